"""One id generator: a short type prefix, then 48 bits of wall-clock milliseconds and 80
random bits in hex. Ids say what they name and cannot be guessed, and new rows land at the
end of their primary-key index instead of all over it, which keeps each commit small."""

import os
import time


def new_id(prefix: str) -> str:
    """A fresh id such as `quo_019abf3c2e4d7f1a9b0c5d6e7f809a1b`: 32 hex digits, time-ordered."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"
