"""One id generator: a short type prefix, then 48 bits of wall-clock milliseconds and 80
random bits in hex. Ids say what they name and cannot be guessed, and new rows land at the
end of their primary-key index instead of all over it, which keeps each commit small.

A simulation asks for `seeded_ids(seed)`: a counter and a seeded generator in place of the
wall clock and the system's randomness, so that a seeded run makes the same ids (and sorts
its rows the same way) every time. Those ids are guessable: for simulations only."""

import itertools
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_seeded: "tuple[itertools.count[int], random.Random] | None" = None


def new_id(prefix: str) -> str:
    """A fresh id such as `quo_019abf3c2e4d7f1a9b0c5d6e7f809a1b`: 32 hex digits, time-ordered."""
    if _seeded is not None:
        counter, rng = _seeded
        return f"{prefix}_{next(counter):012x}{rng.getrandbits(80):020x}"
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{_RANDOMNESS.hex(10)}"


class _Randomness:
    """The system's randomness read 4 KiB at a time: one system call for hundreds of ids
    rather than one each (every API request makes one, its request id)."""

    def __init__(self, size: int = 4096) -> None:
        self._size, self._lock = size, threading.Lock()
        self._pool, self._at = b"", size

    def hex(self, n: int) -> str:
        with self._lock:
            if self._at + n > len(self._pool):
                self._pool, self._at = os.urandom(self._size), 0
            piece = self._pool[self._at : self._at + n]
            self._at += n
        return piece.hex()

    def drop(self) -> None:
        """Forget what was read (a forked child must not reuse its parent's bytes)."""
        self._pool, self._at, self._lock = b"", self._size, threading.Lock()


_RANDOMNESS = _Randomness()
os.register_at_fork(after_in_child=_RANDOMNESS.drop)


@contextmanager
def seeded_ids(seed: int) -> Iterator[None]:
    """Make ids from `seed` until the block ends (one simulation at a time per process)."""
    global _seeded
    previous, _seeded = _seeded, (itertools.count(1), random.Random(seed))
    try:
        yield
    finally:
        _seeded = previous
