"""One id generator: a short type prefix and 128 random bits, so ids say what they name and
cannot be guessed (`dlv_5Jc9...`)."""

import secrets

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    """A fresh id such as `quo_3hG7...`: 22 characters of a 54-letter alphabet (≈126 bits)."""
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(22))}"
