"""The public personal-data policy: each kind's period in words, read from the retention policy."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from scheduler.privacy.policy import Kind, RetentionPolicy

# What each kind holds and from when its period runs, as the citizen reads it.
KIND_TEXTS = {
    Kind.HOLDS: _l("A booking you did not confirm with the emailed code: after the hold ran out"),
    Kind.BOOKINGS: _l("Your booking, your question and the consultation's notes and outcome: after the "
                      "consultation's time"),
    Kind.WALK_INS: _l("A visit to the reception desk without a booking (name and phone): after the visit"),
    Kind.TICKETS: _l("A follow-up request and the answer to it: after the request was closed"),
    Kind.OUTBOX: _l("Copies of the emails we sent you: after they were delivered (or could not be)"),
    Kind.LINKS: _l("Links to your personal page: after they expired"),
    Kind.AUDIT: _l("Details of the record of changes made to your data: after the change"),
    Kind.IDEMPOTENCY: _l("A partner service's stored answer to a repeated booking request: after the request"),
}


def period_words(period: timedelta) -> str:
    """"1 year", "12 months", "7 days", "24 hours" — in the reader's language, with its plural forms."""
    days, hours = period.days, period.seconds // 3600
    if hours or not days:
        total = days * 24 + hours
        return ngettext("%(num)d hour", "%(num)d hours", total)
    if days % 365 == 0:
        return ngettext("%(num)d year", "%(num)d years", days // 365)
    if days % 30 == 0:
        return ngettext("%(num)d month", "%(num)d months", days // 30)
    return ngettext("%(num)d day", "%(num)d days", days)


def policy_rows(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(what is kept, for how long) per kind, in the order of the policy."""
    policy = RetentionPolicy.from_config(config)
    return [(str(KIND_TEXTS[kind]), period_words(policy.period(kind))) for kind in Kind]
