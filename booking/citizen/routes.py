"""The citizen blueprint: every citizen page's address in one table, registered by the application factory."""

from __future__ import annotations

from flask import Blueprint

from booking.citizen import manage, personal, views, wizard

GET_POST = ["GET", "POST"]

bp = Blueprint("citizen", __name__)
bp.add_url_rule("/topics/<slug>", view_func=views.topic)
bp.add_url_rule("/book/<slug>", view_func=wizard.book, methods=GET_POST)
bp.add_url_rule("/book/verify", view_func=wizard.verify, methods=GET_POST)
bp.add_url_rule("/manage/<code>", view_func=manage.manage)
bp.add_url_rule("/manage/<code>/cancel", view_func=manage.cancel, methods=["POST"])
bp.add_url_rule("/manage/<code>/reschedule", view_func=manage.reschedule, methods=GET_POST)
bp.add_url_rule("/me", view_func=personal.personal, methods=GET_POST)
bp.add_url_rule("/me/<token>", view_func=personal.personal_link)
bp.add_url_rule("/me/leave", view_func=personal.personal_leave, methods=["POST"])
