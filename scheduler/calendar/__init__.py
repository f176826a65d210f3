"""Production calendars: working days, decree transfers and working-day deadlines."""

from scheduler.calendar.deadlines import closing_time_from_hours, followup_due_at
from scheduler.calendar.office_hours import OfficeCalendar, WeeklyHours, office_hours_on
from scheduler.calendar.working_days import DEFAULT_OPEN_WEEKDAYS, WorkingCalendar, calendar_for

__all__ = [
    "DEFAULT_OPEN_WEEKDAYS",
    "OfficeCalendar",
    "WeeklyHours",
    "WorkingCalendar",
    "calendar_for",
    "closing_time_from_hours",
    "followup_due_at",
    "office_hours_on",
]
