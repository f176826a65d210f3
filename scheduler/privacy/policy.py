"""The retention policy as data: how long each kind of record keeps its personal data.

Pure: no Flask, no database. The periodic purge, the CLI and the public policy page all read
the periods from one ``RetentionPolicy`` built from the configuration.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


class Kind(enum.StrEnum):
    """A kind of record holding personal data, in the order the purge handles them."""

    HOLDS = "holds"  # bookings never confirmed: after their hold expired
    BOOKINGS = "bookings"  # ended bookings (held, missed or cancelled), their notes and outcomes
    WALK_INS = "walk_ins"  # the reception desk's waiting list: after the visit
    TICKETS = "tickets"  # follow-up tickets: after they closed
    OUTBOX = "outbox"  # email bodies and addresses: after delivery, or after giving up
    LINKS = "links"  # personal-page links: after they expired
    AUDIT = "audit"  # the details of audit entries (who did what and when stays)
    IDEMPOTENCY = "idempotency"  # the API's stored answers to retried requests


# The API's stored answers to Idempotency-Key retries are forgotten after a fixed day: a retry
# later than that is a new request (booking.api.idempotency).
IDEMPOTENT_ANSWERS_LIFETIME = timedelta(hours=24)

# The configuration setting of each kind's period in days, and its default.
SETTINGS: dict[Kind, tuple[str, int]] = {
    Kind.HOLDS: ("RETENTION_HOLDS_DAYS", 1),
    Kind.BOOKINGS: ("RETENTION_BOOKINGS_DAYS", 365),
    Kind.WALK_INS: ("RETENTION_WALK_INS_DAYS", 365),
    Kind.TICKETS: ("RETENTION_TICKETS_DAYS", 365),
    Kind.OUTBOX: ("RETENTION_OUTBOX_DAYS", 7),
    Kind.LINKS: ("RETENTION_LINKS_DAYS", 1),
    Kind.AUDIT: ("RETENTION_AUDIT_DAYS", 365),
}

# The fixed text that replaces a name; other personal fields become empty.
PLACEHOLDER = "—"


@dataclass(frozen=True)
class RetentionPolicy:
    """Each kind's period: its records are anonymised once they are that old (see ``cutoff``)."""

    periods: Mapping[Kind, timedelta]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetentionPolicy:
        periods = {kind: timedelta(days=int(config.get(name, default))) for kind, (name, default) in SETTINGS.items()}
        periods[Kind.IDEMPOTENCY] = IDEMPOTENT_ANSWERS_LIFETIME
        return cls(periods)

    def period(self, kind: Kind) -> timedelta:
        return self.periods[kind]

    def days(self, kind: Kind) -> int:
        return self.periods[kind].days

    def cutoff(self, kind: Kind, now: datetime) -> datetime:
        """Records of this kind whose reference instant (end, close, delivery...) is before this are due."""
        if now.tzinfo is None:
            raise ValueError("now must be an aware instant")
        return now - self.periods[kind]

