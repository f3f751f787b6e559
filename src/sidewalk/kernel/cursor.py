"""Keyset paging: a cursor names the last row of a page by (created_at, id), the order the
lists are sorted in, so a page is found by an index seek however deep it lies."""

import base64
import binascii
import json
from datetime import UTC, datetime

from sidewalk.kernel.errors import ValidationFailed


def storable(*texts: str | None) -> bool:
    """Whether text could be in the database at all: PostgreSQL refuses NUL characters even in
    a lookup, and a key that cannot be stored cannot be found."""
    return not any(t is not None and "\x00" in t for t in texts)


def encode_cursor(created_at: datetime, delivery_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), delivery_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, ident = json.loads(raw)
        at = datetime.fromisoformat(created)
        if at.tzinfo is None or not isinstance(ident, str) or not storable(ident):
            raise ValueError
        return at.astimezone(UTC), ident
    except (ValueError, TypeError, OverflowError, binascii.Error, json.JSONDecodeError) as e:
        raise ValidationFailed(
            "The cursor is not one this API gave out", code="invalid_cursor"
        ) from e
