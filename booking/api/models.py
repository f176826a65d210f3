"""The public API's objects, declared once: views build and parse them, the OpenAPI document is generated from them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from flask_babel import gettext as _
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from booking import models as domain
from booking.availability import MAX_RANGE_DAYS, FoundSlot
from booking.citizens import NAME_MAX, ORGANISATION_MAX, QUESTION_MAX, QUESTION_MIN
from booking.consultation_window import booking_window, has_video
from booking.links import ics_url, manage_url, video_join_url
from booking.models import ApplicantType, BookingStatus
from scheduler.departments import models as departments
from scheduler.inputs import FIRST_DAY, LAST_DAY, is_record_id, is_served_day, parse_id
from scheduler.schedules.models import Channel

Instant = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time",
                                         "description": "ISO 8601 with an explicit offset"})]
Url = Annotated[str, WithJsonSchema({"type": "string", "format": "uri"})]


def without_default(**extra: Any) -> dict[str, Any]:
    """Field options for a field whose default is the server's business, not the client's (and not null)."""

    def edit(schema: dict[str, Any]) -> None:
        schema.pop("default", None)
        schema.update(extra)

    return {"json_schema_extra": edit}


NOT_NULL = without_default()
ErrorCode = Literal["bad_request", "unauthorized", "forbidden", "not_found", "method_not_allowed", "slot_taken",
                    "limit_reached", "validation", "rate_limited", "conflict", "idempotency_key_reused",
                    "idempotency_in_progress"]


class Department(BaseModel):
    slug: str
    title: str
    timezone: str = Field(description="IANA time zone")

    @classmethod
    def of(cls, department: departments.Department) -> Department:
        return cls(slug=department.slug, title=department.title, timezone=department.timezone)


class Topic(BaseModel):
    slug: str
    title: str
    department: Department
    duration_minutes: int = Field(ge=1)
    channels: list[Channel]
    applicant_types: list[ApplicantType]
    followup_working_days: int = Field(ge=1)

    @classmethod
    def of(cls, topic: departments.Topic) -> Topic:
        return cls(slug=topic.slug, title=topic.title, department=Department.of(topic.department),
                   duration_minutes=topic.duration_minutes, channels=topic.channels,
                   applicant_types=topic.applicant_types, followup_working_days=topic.followup_working_days)


class ExpertRef(BaseModel):
    id: int
    name: str


class Location(BaseModel):
    id: int
    name: str
    address: str

    @classmethod
    def of(cls, location: departments.Location | None) -> Location | None:
        if location is None:
            return None
        return cls(id=location.id, name=location.name, address=location.address)


class Slot(BaseModel):
    start: Instant
    end: Instant
    channel: Channel
    expert: ExpertRef
    location: Location | None
    seats_left: int = Field(ge=1)

    @classmethod
    def of(cls, found: FoundSlot) -> Slot:
        return cls(start=found.start.isoformat(), end=found.end.isoformat(), channel=found.slot.channel,
                   expert=ExpertRef(id=found.expert.id, name=found.expert.name),
                   location=Location.of(found.location), seats_left=found.slot.seats_left)


class _InstantText:
    """``isoformat`` once per datetime object: the slot engine hands every expert with the same slot
    time the same objects. Keyed by identity (cheap, and the zone stays part of what is written);
    only for one answer, while the slots it writes are alive."""

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}

    def __call__(self, instant: datetime) -> str:
        text = self._texts.get(id(instant))
        if text is None:
            text = self._texts[id(instant)] = instant.isoformat()
        return text


class SlotList(BaseModel):
    slots: list[Slot]

    @staticmethod
    def payload(found: list[FoundSlot]) -> dict[str, Any]:
        """The body ``SlotList(slots=[Slot.of(s) ...]).model_dump(mode="json")`` gives, built directly:
        thousands of slots per answer make validating each one the largest cost of the search."""
        refs: dict[int, dict[str, Any]] = {}
        places: dict[int, dict[str, Any]] = {}
        text = _InstantText()
        slots = []
        for s in found:
            expert = s.expert
            ref = refs.get(expert.id)
            if ref is None:
                ref = refs[expert.id] = {"id": expert.id, "name": expert.name}
            place = s.location
            if place is not None and place.id not in places:
                places[place.id] = {"id": place.id, "name": place.name, "address": place.address}
            slots.append({"start": text(s.start), "end": text(s.end), "channel": s.slot.channel,
                          "expert": ref, "location": None if place is None else places[place.id],
                          "seats_left": s.slot.seats_left})
        return {"slots": slots}


COMPACT_COLUMNS = ("start", "end", "expert", "location", "seats_left")


class CompactSlotList(BaseModel):
    """The free slots as rows: ``?shape=compact`` (about a third of the full shape's size).

    Each row holds, in the order ``columns`` names, one slot's start and end (ISO 8601 with the offset, as in
    the full shape), the expert's id, the office's id (null for video) and the seats left; the names
    of the experts and offices are given once, in ``experts`` and ``locations``. Same slots, same
    order, same values as the full shape.
    """

    model_config = ConfigDict(title="CompactSlotList")
    shape: Literal["compact"]
    channel: Channel
    columns: list[str] = Field(description="start, end, expert, location, seats_left")
    experts: list[ExpertRef]
    locations: list[Location]
    slots: list[tuple[Instant, Instant, int, int | None, int]]

    @staticmethod
    def payload(found: list[FoundSlot], channel: str) -> dict[str, Any]:
        refs: dict[int, dict[str, Any]] = {}
        places: dict[int, dict[str, Any]] = {}
        text = _InstantText()
        rows = []
        for s in found:
            expert = s.expert
            if expert.id not in refs:
                refs[expert.id] = {"id": expert.id, "name": expert.name}
            place = s.location
            if place is not None and place.id not in places:
                places[place.id] = {"id": place.id, "name": place.name, "address": place.address}
            rows.append((text(s.start), text(s.end), expert.id, None if place is None else place.id,
                         s.slot.seats_left))
        return {"shape": "compact", "channel": channel, "columns": list(COMPACT_COLUMNS),
                "experts": sorted(refs.values(), key=lambda r: r["id"]),
                "locations": sorted(places.values(), key=lambda r: r["id"]), "slots": rows}


class SlotsAnswer(RootModel[SlotList | CompactSlotList]):
    """``GET /api/v1/slots``: the full shape, or the compact one when asked for."""

    model_config = ConfigDict(title="SlotsAnswer")



class Citizen(BaseModel):
    name: str
    email: str
    phone: str = Field(description="E.164")
    applicant_type: ApplicantType
    organisation: str = Field(description="empty for an individual")
    inn: str = Field(description="empty for an individual")


class Video(BaseModel):
    room: str
    join_url: Url
    opens_at: Instant
    closes_at: Instant

    @classmethod
    def of(cls, booking: domain.Booking, config: Mapping[str, Any]) -> Video | None:
        """Null for in-person and cancelled bookings; the window is told in the department's zone."""
        if not has_video(booking) or booking.status == BookingStatus.CANCELLED:
            return None
        window = booking_window(booking, config)
        zone = booking.topic.department.zone
        return cls(room=booking.video_room or "", join_url=video_join_url(booking, config),
                   opens_at=window.opens_at.astimezone(zone).isoformat(),
                   closes_at=window.closes_at.astimezone(zone).isoformat())


class Booking(BaseModel):
    code: str = Field(description="the booking code (also accepted with a dash or in lower case)")
    status: BookingStatus
    topic: str = Field(description="topic slug")
    channel: Channel
    start: Instant = Field(description="in the office's zone: the location's in person, the department's for video")
    end: Instant
    expert: ExpertRef
    location: Location | None
    citizen: Citizen
    manage_url: Url = Field(description="the citizen's manage page; carries the manage token")
    ics_url: Url = Field(description="the invitation; carries the manage token")
    video: Video | None

    @classmethod
    def of(cls, booking: domain.Booking, config: Mapping[str, Any]) -> Booking:
        zone = office_zone(booking)
        return cls(
            code=booking.code, status=booking.status, topic=booking.topic.slug, channel=booking.channel,
            start=booking.starts_at.astimezone(zone).isoformat(), end=booking.ends_at.astimezone(zone).isoformat(),
            expert=ExpertRef(id=booking.expert.id, name=booking.expert.name),
            location=Location.of(booking.location),
            citizen=Citizen(name=booking.citizen_name, email=booking.citizen_email, phone=booking.citizen_phone,
                            applicant_type=booking.applicant_type, organisation=booking.organisation,
                            inn=booking.inn),
            manage_url=manage_url(booking, config), ics_url=ics_url(booking, config),
            video=Video.of(booking, config),
        )


def office_zone(booking: domain.Booking) -> Any:
    """The zone the citizen's appointment is told in: the office's for a visit, the department's for video."""
    return booking.location.zone if booking.location is not None else booking.topic.department.zone


class Error(BaseModel):
    error: ErrorCode
    message: str
    fields: dict[str, str] = Field(default=None, description="field path → message, for `validation`", **NOT_NULL)
    alternatives: list[Slot] = Field(default=None, description="the nearest free slots, for `slot_taken`",
                                     **NOT_NULL)


# --- what clients send ------------------------------------------------------------------------------
# Each check answers in the user's language (a PydanticCustomError of type "okno"); the API's
# field-error mapper passes those messages through and words pydantic's own ones.

MAX_STRING = 10_000  # any single value; the real limits per field are tighter and checked by the domain's rules
MAX_AHEAD = timedelta(days=5 * 366)  # far beyond any topic's horizon, well inside datetime's range


def refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("okno", message)  # type: ignore[arg-type]


def _acceptable(value: str) -> bool:
    """Text a database can store: no NUL characters, no lone surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _optional_text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise refuse(_("Must be a string."))
    if len(value) > MAX_STRING:
        raise refuse(_("The value is too long."))
    if not _acceptable(value):
        raise refuse(_("The value contains characters that are not allowed."))
    return value


def _required_text(value: Any) -> str:
    if value is None:
        raise refuse(_("This field is required."))
    return _optional_text(value)


Text = Annotated[str, BeforeValidator(_required_text)]
OptionalText = Annotated[str, BeforeValidator(_optional_text)]
_OPTIONAL_TEXT: TypeAdapter[str] = TypeAdapter(OptionalText)


def lenient_text(value: Any) -> str:
    """The text as the rules should see it when its own check failed: empty, so each rule still speaks."""
    try:
        return _OPTIONAL_TEXT.validate_python(value)
    except ValidationError:
        return ""


def _channel(value: Any) -> str:
    text = _required_text(value)
    if text not in tuple(Channel):
        raise refuse(_("Use video or in_person."))
    return text


def _start(value: Any, info: ValidationInfo) -> datetime:
    raw = _required_text(value)
    now: datetime = info.context["now"]
    try:
        start = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise refuse(_("Use an ISO 8601 instant with its offset, for example 2026-12-01T10:00:00+03:00.")) from None
    if start.tzinfo is None or start.utcoffset() is None:
        raise refuse(_("Give the time with its UTC offset."))
    try:
        start.astimezone(now.tzinfo)
    except (OverflowError, ValueError):
        raise refuse(_("This time is out of range.")) from None
    if start <= now:
        raise refuse(_("This time has already passed."))
    if start > now + MAX_AHEAD:
        raise refuse(_("This time is too far ahead."))
    return start


def _record_id(value: Any, message: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not is_record_id(value):
        raise refuse(message)
    return value


def _expert_id(value: Any) -> int | None:
    return _record_id(value, _("Use the expert's id, a positive whole number."))


def _location_id(value: Any) -> int | None:
    return _record_id(value, _("Use the office's id, a positive whole number."))


def _object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise refuse(_("Give the citizen's details as an object."))
    return value


def _consent(value: Any) -> Any:
    if value is not True:
        raise refuse(consent_required())
    return value


def consent_required() -> str:
    return _("The citizen's consent to the processing of personal data is required.")


ChannelField = Annotated[Channel, BeforeValidator(_channel)]
Start = Annotated[datetime, BeforeValidator(_start)]
ExpertId = Annotated[int | None, BeforeValidator(_expert_id),
                     WithJsonSchema({"type": "integer", "minimum": 1})]
LocationId = Annotated[int | None, BeforeValidator(_location_id),
                       WithJsonSchema({"type": "integer", "minimum": 1})]
LOCATION_DESCRIPTION = ("in person: the office's id, as /slots gives it (`location.id`); the booking is made at "
                        "that office or refused with `slot_taken`. Without it the first free office is taken")


class CitizenRequest(BaseModel):
    """Any text is taken here; the citizen rules (booking.citizens) then check each field by its path."""

    model_config = ConfigDict(json_schema_extra={"required": ["name", "email", "phone", "applicant_type"]})
    name: OptionalText = Field(default="", **without_default(maxLength=NAME_MAX))
    email: OptionalText = Field(default="", **without_default(format="email"))
    phone: OptionalText = Field(default="", description="any common notation; Russian numbers may omit +7",
                                **NOT_NULL)
    applicant_type: OptionalText = Field(default="", **without_default(enum=list(ApplicantType)))
    organisation: OptionalText = Field(default="", description="required for legal_entity",
                                       **without_default(maxLength=ORGANISATION_MAX))
    inn: OptionalText = Field(default="", description="required for legal_entity: 10 digits (12 for an entrepreneur)",
                              **NOT_NULL)


class BookingRequest(BaseModel):
    topic: Text = Field(description="topic slug; an unknown one is a 422 on `topic`")
    channel: ChannelField
    start: Start = Field(description="the start of a free slot, as /slots gives it; must be in the future")
    expert: ExpertId = Field(default=None, **NOT_NULL,
                             description="an expert's id; without it the first free expert at that time is taken")
    location: LocationId = Field(default=None, **NOT_NULL, description=LOCATION_DESCRIPTION)
    citizen: Annotated[CitizenRequest, BeforeValidator(_object)]
    question: OptionalText = Field(default="", **without_default(minLength=QUESTION_MIN, maxLength=QUESTION_MAX))
    consent_personal_data: Annotated[Literal[True], BeforeValidator(_consent)]

    model_config = ConfigDict(json_schema_extra={"required": ["topic", "channel", "start", "citizen", "question",
                                                              "consent_personal_data"]})

    @staticmethod
    def missing() -> dict[str, str]:
        """Messages for absent fields that say more than "required"."""
        return {"citizen": _("Give the citizen's details as an object."),
                "consent_personal_data": consent_required()}


class RescheduleRequest(BaseModel):
    start: Start = Field(description="the start of a free slot of the same topic and channel")
    expert: ExpertId = Field(default=None, description="an expert's id; without it the same expert is preferred",
                             **NOT_NULL)
    location: LocationId = Field(default=None, **NOT_NULL, description=LOCATION_DESCRIPTION)


def _date(value: Any) -> date:
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        raise refuse(_("Use a date in the form YYYY-MM-DD.")) from None
    if not is_served_day(day):
        raise refuse(_("Use a date between %(first)s and %(last)s.", first=FIRST_DAY.isoformat(),
                       last=LAST_DAY.isoformat()))
    return day


def _after_first_day(value: date, info: ValidationInfo) -> date:
    """A range the search takes: not backwards, and not longer than it searches at once."""
    first = info.data.get("first_day")
    if first is None:
        return value
    if value < first:
        raise refuse(_("The end date must not be before the start date."))
    if (value - first).days + 1 > MAX_RANGE_DAYS:
        raise refuse(_("Ask for at most %(days)s days at a time.", days=MAX_RANGE_DAYS))
    return value


def _expert_id_text(value: Any) -> int | None:
    """The expert of a query string: text, so not a number until it is read as one."""
    record_id = parse_id(value) if isinstance(value, str) else None
    return _expert_id(value if record_id is None else record_id)  # unreadable text stays text, which is refused


def _query_shape(value: Any) -> str:
    if value not in ("full", "compact"):
        raise refuse(_("Use full or compact."))
    return str(value)


def _query_channel(value: Any) -> str:
    if value not in tuple(Channel):
        raise refuse(_("Use video or in_person."))
    return str(value)


class SlotsQuery(BaseModel):
    """Blank parameters count as absent (see plumbing.query_args)."""

    topic: Text
    channel: Annotated[Channel, BeforeValidator(_query_channel)]
    first_day: Annotated[date, BeforeValidator(_date)] = Field(alias="from")
    last_day: Annotated[date, BeforeValidator(_date), AfterValidator(_after_first_day)] = Field(alias="to")
    expert: Annotated[int | None, BeforeValidator(_expert_id_text), WithJsonSchema({"type": "integer", "minimum": 1})
                      ] = Field(default=None, **NOT_NULL)
    shape: Annotated[Literal["full", "compact"], BeforeValidator(_query_shape)] = Field(
        default="full", description="compact: the slots as rows (CompactSlotList), about a third of the size",
        **NOT_NULL)

    @staticmethod
    def missing() -> dict[str, str]:
        required = _("This parameter is required.")
        return {"topic": required, "channel": required, "from": required, "to": required}
