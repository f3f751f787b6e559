"""One id generator: a short type prefix, then 48 bits of wall-clock milliseconds and 80
random bits, in an alphabet that sorts like the bytes (lowercase base32hex). Ids say what
they name and cannot be guessed, and new rows land at the end of their primary-key index
instead of all over it, which keeps each commit small."""

import base64
import os
import time


def new_id(prefix: str) -> str:
    """A fresh id such as `quo_0pb6jh2mo1b8r3a5e9qbgk2hrc`: 26 characters, time-ordered."""
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10)
    return f"{prefix}_{base64.b32hexencode(raw).decode('ascii')[:26].lower()}"
