"""Pure slot engine: which consultation slots can be booked, from plain data."""

from scheduler.availability.engine import (
    BusyInterval,
    Channel,
    DateOverride,
    DayCalendar,
    ReceptionWindow,
    Slot,
    TopicRules,
    WeeklyInterval,
    find_slots,
)
from scheduler.availability.hours import ExpertHours

__all__ = [
    "BusyInterval",
    "Channel",
    "DateOverride",
    "DayCalendar",
    "ExpertHours",
    "ReceptionWindow",
    "Slot",
    "TopicRules",
    "WeeklyInterval",
    "find_slots",
]
