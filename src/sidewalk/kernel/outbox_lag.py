"""How far an outbox's relay is behind: the unpublished events and the age of the oldest."""

from datetime import datetime

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session


def outbox_lag(session: Session, outbox: Table, now: datetime) -> tuple[int, float]:
    """(unpublished events, seconds since the oldest of them happened; 0 when none)."""
    unpublished = outbox.c.published_at.is_(None)
    waiting = session.scalar(select(func.count()).select_from(outbox).where(unpublished)) or 0
    oldest = session.scalar(
        select(outbox.c.occurred_at).where(unpublished).order_by(outbox.c.seq).limit(1)
    )
    return int(waiting), max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
