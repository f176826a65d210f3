"""Imports every model module so that the metadata (and Alembic) sees all tables."""

import booking.reception.models
import booking.tickets.models  # noqa: F401 - ticket tables
from booking.models import ApiKey, Booking, BookingEvent, BookingNote, CitizenLink
from scheduler.audit import AuditEntry
from scheduler.auth.models import User
from scheduler.departments.models import BusinessHours, Department, Location, Topic
from scheduler.experts.models import Expert
from scheduler.mail.models import OutboxMessage
from scheduler.schedules.models import DateOverride, ReceptionDay, ReceptionException, WeeklyAvailability

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Booking",
    "BookingEvent",
    "BookingNote",
    "BusinessHours",
    "CitizenLink",
    "DateOverride",
    "Department",
    "Expert",
    "Location",
    "OutboxMessage",
    "ReceptionDay",
    "ReceptionException",
    "Topic",
    "User",
    "WeeklyAvailability",
]
