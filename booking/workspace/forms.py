"""Forms of the expert workspace: completion with an outcome, private notes, feed settings."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from booking.consultation import MAX_NOTE
from booking.ical import FEED_DETAIL_MINIMAL, FEED_DETAIL_NAMES
from booking.models import Outcome

OUTCOME_LABELS = {
    Outcome.RESOLVED: _l("Resolved at the consultation"),
    Outcome.NEEDS_FOLLOWUP: _l("Needs a follow-up answer"),
}
FEED_DETAIL_LABELS = {
    FEED_DETAIL_MINIMAL: _l("Topic and booking code only"),
    FEED_DETAIL_NAMES: _l("Also the citizen's name"),
}


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class CompleteForm(FlaskForm):
    outcome = RadioField(_l("Outcome"), validators=[InputRequired()],
                         choices=[SelectChoice(o.value, label) for o, label in OUTCOME_LABELS.items()])
    note = TextAreaField(_l("Outcome note"), validators=[Optional(), Length(max=MAX_NOTE)])


class NoteForm(FlaskForm):
    text = TextAreaField(_l("Private note"), validators=[InputRequired(), Length(max=MAX_NOTE)])


class FeedDetailForm(FlaskForm):
    detail = RadioField(_l("What the calendar feed shows"), validators=[InputRequired()],
                        choices=[SelectChoice(k, label) for k, label in FEED_DETAIL_LABELS.items()])
