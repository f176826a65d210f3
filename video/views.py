"""Join pages for video consultations: the citizen's and the expert's.

A token is minted when its participant opens the page inside the join window, for that
participant only, and travels to the video server in the link's fragment: it is in the page's
body, never in an address this server (or any proxy in front of it) receives or logs.
"""

from __future__ import annotations

import math
from datetime import datetime

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from booking.citizen.access import grant_manage, managed_booking
from booking.codes import display_code, normalise_code
from booking.consultation_window import Phase, booking_window, has_video
from booking.models import Booking
from scheduler.auth.access import Action, may
from scheduler.auth.models import Role
from scheduler.auth.roles import role_required
from scheduler.db import utcnow
from scheduler.extensions import db
from video.rooms import booking_phase, citizen_participant, expert_participant
from video.tokens import JitsiSettings, Participant, join_url, mint_token, room_url

bp = Blueprint("video", __name__)

# The waiting page reloads itself at least this often, so its countdown stays right without JS.
REFRESH_SECONDS = 60


@bp.route("/video/<code>")
def citizen_join(code: str) -> ResponseReturnValue:
    token = request.args.get("token")
    if token:
        # As on the manage page: keep the manage secret out of the address bar and later requests.
        grant_manage(normalise_code(code), token)
        return redirect(url_for("video.citizen_join", code=normalise_code(code)))
    booking = managed_booking(code)
    if not has_video(booking):
        abort(404)
    participant = citizen_participant(booking, current_app.config, _("Applicant"))
    return _join_page(booking, participant, "citizen", utcnow())


@bp.route("/staff/video/<code>")
@role_required(Role.EXPERT)
def expert_join(code: str) -> ResponseReturnValue:
    booking = db.session.scalar(select(Booking).where(Booking.code == normalise_code(code)))
    if booking is None or not has_video(booking):
        abort(404)
    if not may(current_user, Action.JOIN_VIDEO_AS_EXPERT, booking.scope):
        abort(403)  # only the assigned expert runs the room; nobody else gets a moderator token
    return _join_page(booking, expert_participant(booking), "expert", utcnow())


def _join_page(booking: Booking, participant: Participant, audience: str, now: datetime) -> ResponseReturnValue:
    config = current_app.config
    settings = JitsiSettings.from_config(config)
    window = booking_window(booking, config)
    phase = booking_phase(booking, config, now)
    link = None
    refresh = None
    if phase is Phase.OPEN:
        room = str(booking.video_room)
        if settings.signs_tokens:
            link = join_url(settings, room, mint_token(settings, room=room, window=window,
                                                       participant=participant, now=now))
        else:
            link = room_url(settings, room)
        refresh = math.ceil((window.closes_at - now).total_seconds())
    elif phase is Phase.BEFORE:
        refresh = min(REFRESH_SECONDS, math.ceil((window.opens_at - now).total_seconds()))
    zone = booking.topic.department.zone
    minutes_left = math.ceil((window.opens_at - now).total_seconds() / 60) if phase is Phase.BEFORE else None
    response = make_response(render_template(
        "video/join.html", booking=booking, code=display_code(booking.code), audience=audience, phase=phase.value,
        window=window, zone=zone, link=link, refresh=refresh, minutes_left=minutes_left,
        opens_today=window.opens_at.astimezone(zone).date() == now.astimezone(zone).date(),
    ))
    # The page holds a live token: no cache may keep it. The link to the room is rel="noreferrer", and the
    # site's same-origin Referrer-Policy tells no other site anything, while the page's own forms (language,
    # sign-out) keep the same-origin Referer that the CSRF check needs over HTTPS.
    response.headers["Cache-Control"] = "no-store"
    return response
