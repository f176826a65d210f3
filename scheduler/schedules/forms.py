"""Forms for weekly hours, date overrides, reception days and their exceptions (no JavaScript needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from babel.dates import get_day_names
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, FieldList, Form, FormField, SelectField, SelectMultipleField, StringField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from scheduler.departments.models import Location
from scheduler.inputs import parse_id
from scheduler.schedules.models import Channel, OverrideKind, WeeklyAvailability
from scheduler.schedules.services import WeeklyRow

TIME_FORMATS = ["%H:%M", "%H:%M:%S"]  # browsers send seconds when a step below a minute is set
BLANK_ROWS = 3
MAX_ROWS = 70  # ten intervals a day is already more than any real schedule

CHANNEL_LABELS = {Channel.VIDEO: _l("Video"), Channel.IN_PERSON: _l("In person")}
OVERRIDE_KIND_LABELS = {OverrideKind.ABSENCE: _l("Absence (no consultations)"), OverrideKind.HOURS: _l("Other hours")}


def weekday_names(width: str = "wide") -> list[str]:
    """Localised weekday names, Monday first, from CLDR (no catalog entries needed)."""
    names = get_day_names(width, locale=str(get_locale() or "ru"))
    return [str(names[i])[:1].upper() + str(names[i])[1:] for i in range(7)]


def weekday_choices() -> list[SelectChoice]:
    return [SelectChoice(str(i), name) for i, name in enumerate(weekday_names())]


def _optional_int(value: Any) -> int | None:
    if value in (None, "", "None"):
        return None
    record_id = parse_id(str(value))
    if record_id is None:
        raise ValueError(value)  # the field says the choice is not valid
    return record_id


class MultiCheckboxField(SelectMultipleField):
    """A group of checkboxes; templates wrap it in a fieldset whose legend is the label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WeeklyRowForm(Form):
    weekday = SelectField(_l("Day of the week"), coerce=int)
    starts = TimeField(_l("From"), format=TIME_FORMATS, validators=[Optional()])
    ends = TimeField(_l("To"), format=TIME_FORMATS, validators=[Optional()])
    valid_from = DateField(_l("Valid from"), validators=[Optional()])
    valid_to = DateField(_l("Valid to"), validators=[Optional()])
    location_id = SelectField(_l("Office"), coerce=_optional_int, validate_choice=False)


class WeeklyForm(FlaskForm):
    """One channel's weekly pattern as editable lines, with a few blank lines for new intervals."""

    rows = FieldList(FormField(WeeklyRowForm), max_entries=MAX_ROWS)

    def __init__(self, *args: Any, locations: Sequence[Location] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.location_choices = [SelectChoice("", _l("Any office"))] + [
            SelectChoice(str(loc.id), loc.name) for loc in locations
        ]
        self._set_choices()

    def _set_choices(self) -> None:
        days = weekday_choices()
        for entry in self.rows:
            entry.form.weekday.choices = days
            entry.form.location_id.choices = self.location_choices

    @classmethod
    def for_rows(cls, rows: Sequence[WeeklyAvailability], channel: Channel,
                 locations: Sequence[Location] = ()) -> WeeklyForm:
        """The form filled from stored rows plus blank lines (never reads the request)."""
        data = [{"weekday": r.weekday, "starts": r.starts, "ends": r.ends, "valid_from": r.valid_from,
                 "valid_to": r.valid_to, "location_id": r.location_id} for r in rows]
        form = cls(formdata=None, prefix=channel.value, data={"rows": data}, locations=locations)
        form.add_blank_rows()
        return form

    def add_blank_rows(self, count: int = BLANK_ROWS) -> None:
        for _ in range(count):
            if len(self.rows) >= MAX_ROWS:
                break
            self.rows.append_entry({"weekday": 0})
        self._set_choices()

    def weekly_rows(self) -> list[WeeklyRow]:
        return [
            WeeklyRow(weekday=e.form.weekday.data, starts=e.form.starts.data, ends=e.form.ends.data,
                      valid_from=e.form.valid_from.data, valid_to=e.form.valid_to.data,
                      location_id=e.form.location_id.data)
            for e in self.rows
        ]


class IntervalForm(Form):
    starts = TimeField(_l("From"), format=TIME_FORMATS, validators=[Optional()])
    ends = TimeField(_l("To"), format=TIME_FORMATS, validators=[Optional()])


class OverrideForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k.value, label) for k, label in OVERRIDE_KIND_LABELS.items()])
    first_day = DateField(_l("First day"), validators=[InputRequired()])
    last_day = DateField(_l("Last day"), validators=[Optional()])
    channel = SelectField(_l("Channel"), choices=[SelectChoice("", _l("Both channels"))] + [
        SelectChoice(c.value, label) for c, label in CHANNEL_LABELS.items()
    ])
    intervals = FieldList(FormField(IntervalForm), min_entries=3, max_entries=3)
    reason = StringField(_l("Reason"), validators=[Length(max=200)])

    def interval_pairs(self) -> list[tuple[Any, Any]]:
        return [(e.form.starts.data, e.form.ends.data) for e in self.intervals]


class ReceptionDayForm(FlaskForm):
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=200)])
    location_id = SelectField(_l("Office"), coerce=_optional_int)
    weekdays = MultiCheckboxField(_l("Days of the week"), coerce=int)
    starts = TimeField(_l("From"), format=TIME_FORMATS, validators=[InputRequired()])
    ends = TimeField(_l("To"), format=TIME_FORMATS, validators=[InputRequired()])
    valid_from = DateField(_l("Valid from"), validators=[Optional()])
    valid_to = DateField(_l("Valid to"), validators=[Optional()])
    topics = MultiCheckboxField(_l("Topics"), coerce=int)
    experts = MultiCheckboxField(_l("Experts on duty"), coerce=int)

    def set_choices(self, locations: Sequence[Location], topics: Sequence[Any], experts: Sequence[Any]) -> None:
        self.location_id.choices = [SelectChoice(str(loc.id), loc.name) for loc in locations]
        self.weekdays.choices = weekday_choices()
        self.topics.choices = [SelectChoice(str(t.id), t.title) for t in topics]
        self.experts.choices = [SelectChoice(str(e.id), e.name) for e in experts]


EXCEPTION_KINDS = {"cancelled": _l("Cancelled that day"), "hours": _l("Other hours that day")}


class ReceptionExceptionForm(FlaskForm):
    """Shown beside the reception day form, hence the prefix: no two inputs on the page share an id."""

    day = DateField(_l("Date"), validators=[InputRequired()])
    kind = SelectField(_l("Change"), choices=[SelectChoice(k, label) for k, label in EXCEPTION_KINDS.items()])
    starts = TimeField(_l("From"), format=TIME_FORMATS, validators=[Optional()])
    ends = TimeField(_l("To"), format=TIME_FORMATS, validators=[Optional()])
    reason = StringField(_l("Reason"), validators=[Length(max=200)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "exception")
        super().__init__(*args, **kwargs)
