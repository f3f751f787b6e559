"""One id generator: a short type prefix and 128 random bits, so ids say what they name and
cannot be guessed (`dlv_k5Vdq3-...`)."""

import base64
import os


def new_id(prefix: str) -> str:
    """A fresh id such as `quo_mFrGgZdfM-twq2lKnNwg2w`: 22 url-safe characters (128 bits)."""
    return f"{prefix}_{base64.urlsafe_b64encode(os.urandom(16)).decode('ascii')[:22]}"
