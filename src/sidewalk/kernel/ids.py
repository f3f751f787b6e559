"""One id generator: a short type prefix, then 48 bits of wall-clock milliseconds and 80
random bits in hex. Ids say what they name and cannot be guessed, and new rows land at the
end of their primary-key index instead of all over it, which keeps each commit small.

A simulation asks for `seeded_ids(seed)`: a counter and a seeded generator in place of the
wall clock and the system's randomness, so that a seeded run makes the same ids (and sorts
its rows the same way) every time. Those ids are guessable: for simulations only."""

import itertools
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

_seeded: "tuple[itertools.count[int], random.Random] | None" = None


def new_id(prefix: str) -> str:
    """A fresh id such as `quo_019abf3c2e4d7f1a9b0c5d6e7f809a1b`: 32 hex digits, time-ordered."""
    if _seeded is not None:
        counter, rng = _seeded
        return f"{prefix}_{next(counter):012x}{rng.getrandbits(80):020x}"
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


@contextmanager
def seeded_ids(seed: int) -> Iterator[None]:
    """Make ids from `seed` until the block ends (one simulation at a time per process)."""
    global _seeded
    previous, _seeded = _seeded, (itertools.count(1), random.Random(seed))
    try:
        yield
    finally:
        _seeded = previous
