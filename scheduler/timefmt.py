"""Showing instants to people: local time in the office's zone, with the zone named."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from flask_babel import format_date, format_time


def _zone(zone: tzinfo | str) -> tzinfo:
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def zone_label(zone: tzinfo | str, at: datetime) -> str:
    """'Europe/Moscow, UTC+03:00': the IANA name people can look up, and the offset in force."""
    tz = _zone(zone)
    offset = at.astimezone(tz).utcoffset()
    total = int(offset.total_seconds()) if offset is not None else 0
    sign = "+" if total >= 0 else "-"
    hours, minutes = divmod(abs(total) // 60, 60)
    utc = f"UTC{sign}{hours:02d}:{minutes:02d}"
    return f"{tz.key}, {utc}" if isinstance(tz, ZoneInfo) else utc


def local_time(at: datetime, zone: tzinfo | str) -> str:
    return format_time(at.astimezone(_zone(zone)).time(), "HH:mm")


def local_date(day: date, style: str = "full") -> str:
    return format_date(day, style)


def local_datetime(at: datetime, zone: tzinfo | str) -> str:
    """'вторник, 1 декабря 2026 г., 10:00 (Europe/Moscow, UTC+03:00)'."""
    tz = _zone(zone)
    local = at.astimezone(tz)
    return f"{format_date(local.date(), 'full')}, {local.strftime('%H:%M')} ({zone_label(tz, at)})"
