"""Forms of the reception desk: check-in by code, walk-ins, calling the next visitor."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional


class CheckInForm(FlaskForm):
    code = StringField(_l("Booking code"), validators=[InputRequired(), Length(max=40)])


class WalkInForm(FlaskForm):
    name = StringField(_l("Visitor's name"), validators=[InputRequired(), Length(max=200)])
    phone = StringField(_l("Phone"), validators=[InputRequired(), Length(max=40)])
    topic = SelectField(_l("Topic"), validators=[InputRequired()])


class CallForm(FlaskForm):
    window = StringField(_l("Window or room"), validators=[InputRequired(), Length(max=40)])
    expert = SelectField(_l("For the expert"), validators=[Optional()])
