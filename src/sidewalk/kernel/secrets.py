"""Credentials: high-entropy secrets shown once and kept only as a digest."""

import hashlib
import secrets


def new_secret(prefix: str) -> str:
    """A fresh credential such as `sk_live_...`, with 256 random bits."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def digest(secret: str) -> str:
    """SHA-256 hex digest: enough for 256-bit random secrets, and fast on every request."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token() -> str:
    """An unguessable url-safe token (tracking links)."""
    return secrets.token_urlsafe(24)


def new_pin(digits: int = 4) -> str:
    """A random numeric PIN, as customers type on a keypad."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"
