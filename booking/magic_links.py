"""Magic links to a citizen's personal page: each opens it once, before it expires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from booking.codes import token_hash
from booking.models import CitizenLink


def use_citizen_link(session: Session, token: str, now: datetime) -> str | None:
    """The email a link proves, marking the link used; None if it is unknown, expired or used already.

    A compare-and-set on ``used_at``, so two requests racing with one link (a mail scanner and the
    citizen, say) never both get in. Only the token's hash is stored, so a database reader cannot
    use a link either.
    """
    digest = token_hash(token)
    result = session.execute(
        update(CitizenLink)
        .where(CitizenLink.token_hash == digest, CitizenLink.used_at.is_(None), CitizenLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.scalar(select(CitizenLink.email).where(CitizenLink.token_hash == digest))
