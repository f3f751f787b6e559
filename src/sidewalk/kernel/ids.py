"""One id generator: a short type prefix and 120 random bits, so ids say what they name and
cannot be guessed (`dlv_k5vdq3...`)."""

import base64
import os


def new_id(prefix: str) -> str:
    """A fresh id such as `quo_mfrggzdfmztwq2lknnwg23tp`: 24 base32 characters (120 bits)."""
    return f"{prefix}_{base64.b32encode(os.urandom(15)).decode('ascii').lower()}"
