"""Values of the setup document (slugs, times, dates, weekdays, ...): types whose checks word each problem
for the file, and whose constraints describe them in the generated JSON Schema."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from scheduler.auth.models import normalise_email
from scheduler.calendar import WorkingCalendar
from scheduler.departments.models import APPLICANT_TYPES, CHANNELS

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OVERRIDE_KINDS = ("absence", "hours")
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
WEEKDAY_INDEX = {name: index for index, name in enumerate(WEEKDAYS)}


def invalid(message: str) -> PydanticCustomError:
    """A value's problem in the document's words (``Part`` puts its path in front)."""
    return PydanticCustomError("setup", message)


def check(test: Callable[[Any], bool], message: str) -> BeforeValidator:
    """A value check with the document's own message (pydantic's constraints only describe the schema)."""

    def check(value: Any) -> Any:
        if not test(value):
            raise invalid(message)
        return value

    return BeforeValidator(check)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole_check(lowest: int, highest: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not _is_whole(value) or value < lowest:
            raise invalid("must be a positive whole number" if lowest == 1 else
                          f"must be a whole number, {lowest} or more")
        if value > highest:
            raise invalid(f"must be at most {highest}")
        return value

    return check


def whole(lowest: int, highest: int, description: str | None = None) -> Any:
    return Annotated[int, Field(ge=lowest, le=highest, description=description),
                     BeforeValidator(_whole_check(lowest, highest))]


def _text_check(max_length: int | None, blank: bool) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid("must be a string")
        if not blank and not value.strip():
            raise invalid("must not be empty")
        if max_length is not None and len(value) > max_length:
            raise invalid(f"must be at most {max_length} characters")
        return value

    return check


def text(max_length: int | None, *, blank: bool = True, description: str | None = None) -> Any:
    return Annotated[str, Field(max_length=max_length, min_length=None if blank else 1, description=description),
                     BeforeValidator(_text_check(max_length, blank))]


def nullable(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _slug_check(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(SLUG_PATTERN, value):
        raise invalid("must be a slug: lowercase Latin letters, digits, '-' and '_' (e.g. gas-connection)")
    if len(value) > 80:
        raise invalid("must be at most 80 characters")
    return value


def _timezone_check(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        raise invalid("must be an IANA time zone name such as Europe/Moscow")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"unknown time zone {value!r}: use an IANA name such as Europe/Moscow") from None
    return value


@functools.lru_cache(maxsize=64)
def _calendar_problem(code: str) -> str | None:
    try:
        WorkingCalendar(code or None)
    except ValueError as exc:
        return str(exc)
    return None


def _calendar_check(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > 16:
        raise invalid('must be a holiday calendar code such as "RU" or "RU-KO", or "" for none')
    problem = _calendar_problem(value)
    if problem:
        raise invalid(f"unknown holiday calendar {value!r}: {problem}")
    return value


def _email_check(*, optional: bool, normalise: bool) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise invalid("must be an email address (a string)")
        if optional and value == "":
            return value
        if len(value) > 254:
            raise invalid("must be at most 254 characters")
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            raise invalid(f"not a valid email address: {exc}") from None
        return normalise_email(value) if normalise else value

    return check


def _date_check(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(DATE_PATTERN, value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise invalid('must be a date "YYYY-MM-DD"')


def _time_check(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(TIME_PATTERN, value):
        raise invalid('must be a time "HH:MM" from 00:00 to 23:59')
    return value


def _weekday_check(value: Any) -> Any:
    if isinstance(value, str) and value in WEEKDAY_INDEX:
        return value
    if _is_whole(value) and 0 <= value <= 6:
        return WEEKDAYS[value]
    raise invalid(f"must be a weekday: {', '.join(WEEKDAYS)} (or 0 = Monday .. 6 = Sunday)")


def _choice_check(options: Iterable[str]) -> Callable[[Any], Any]:
    allowed = tuple(options)

    def check(value: Any) -> Any:
        if value not in allowed:
            raise invalid(f"must be one of: {', '.join(allowed)}")
        return value

    return check


def unique_list(item: Any, *, nonempty: bool = False, description: str | None = None) -> Any:
    """A list whose items must differ: ``Part`` names each repetition (pydantic would name only the list)."""
    return Annotated[list[item], Field(min_length=1 if nonempty else None, description=description,
                                       json_schema_extra={"uniqueItems": True})]


def _pair_check(value: Any) -> Any:
    if not isinstance(value, list) or len(value) != 2:
        raise invalid('must be a pair of times ["HH:MM", "HH:MM"]')
    return value


def _ends_after_starts(pair: list[str]) -> list[str]:
    if pair[1] <= pair[0]:
        raise invalid(f"must end after it starts ({pair[0]} to {pair[1]})")
    return pair


Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=80), BeforeValidator(_slug_check)]
Time = Annotated[str, Field(pattern=TIME_PATTERN), BeforeValidator(_time_check)]
Date = Annotated[str, Field(pattern=DATE_PATTERN, json_schema_extra={"format": "date"}), BeforeValidator(_date_check)]
Timezone = Annotated[str, Field(min_length=1, max_length=64, description="An IANA time zone name, e.g. Europe/Moscow."),
                     BeforeValidator(_timezone_check)]
ExpertEmail = Annotated[str, Field(max_length=254, json_schema_extra={"format": "email"},
                                   description="An email address (matched case-insensitively)."),
                        BeforeValidator(_email_check(optional=False, normalise=True))]
Weekday = Annotated[Literal[WEEKDAYS] | Annotated[int, Field(ge=0, le=6)], BeforeValidator(_weekday_check),
                    Field(description="A weekday name (exported form), or a number 0 = Monday .. 6 = Sunday.")]
Channel = Annotated[Literal[CHANNELS], BeforeValidator(_choice_check(CHANNELS))]
Boolean = Annotated[bool, check(lambda v: isinstance(v, bool), "must be true or false")]
Interval = Annotated[list[Time], Field(min_length=2, max_length=2), BeforeValidator(_pair_check),
                     AfterValidator(_ends_after_starts)]


def _omit_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def a_string(schema: dict[str, Any]) -> None:
    """Editors expect a string; the importer reads nothing from it, so it accepts any value."""
    _omit_default(schema)
    schema["type"] = "string"


# An optional key that may be left out but not given as null (the default None is never validated).
OMITTED = Field(None, json_schema_extra=_omit_default)


NullableDate = Annotated[Date | None, BeforeValidator(nullable(_date_check))]
NullableTime = Annotated[Time | None, BeforeValidator(nullable(_time_check))]
ApplicantType = Annotated[Literal[APPLICANT_TYPES], BeforeValidator(_choice_check(APPLICANT_TYPES))]
OverrideKind = Annotated[Literal[OVERRIDE_KINDS], BeforeValidator(_choice_check(OVERRIDE_KINDS))]
NullableChannel = Annotated[Channel | None, BeforeValidator(nullable(_choice_check(CHANNELS)))]
HolidayCalendar = Annotated[str, Field(
    max_length=16, description='Public-holiday calendar ("RU", "RU-KO", ...); "" ignores public holidays.'),
    BeforeValidator(_calendar_check)]
ContactEmail = Annotated[str, Field(max_length=254, description="Contact address, or empty."),
                         BeforeValidator(_email_check(optional=True, normalise=False))]
NullableMinutes = Annotated[Annotated[int, Field(ge=1, le=1440)] | None,
                            BeforeValidator(nullable(_whole_check(1, 1440)))]
