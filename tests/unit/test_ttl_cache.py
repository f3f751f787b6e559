"""The cache of who a key belongs to: entries outlive neither their lifetime nor each other
all at once."""

import pytest

from sidewalk.kernel.cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lifetimes(cache: TtlCache[int, str], clock: Clock, keys: range) -> list[float]:
    """How long each key stays cached, loaded at time 0, to a tenth of a second."""
    for key in keys:
        cache.get_or_load(key, lambda: "owner")
    left, lived, tick = set(keys), {}, 0
    while left:
        tick += 1
        clock.now = tick / 10
        for key in [k for k in left if cache.get(k) is None]:
            lived[key] = clock.now
            left.discard(key)
    return [lived[k] for k in keys]


def test_a_fleet_loaded_at_once_runs_out_spread_over_the_last_half_of_the_lifetime() -> None:
    clock = Clock()
    lived = lifetimes(TtlCache(30, clock=clock), clock, range(2_000))
    assert min(lived) >= 15
    assert max(lived) <= 30
    per_second = [sum(1 for t in lived if s < t <= s + 1) for s in range(15, 30)]
    assert max(per_second) < 2_000 / 15 * 1.5  # none of the 15 seconds takes the whole fleet


def test_without_jitter_every_entry_lives_the_whole_lifetime() -> None:
    clock = Clock()
    lived = lifetimes(TtlCache(30, jitter=0, clock=clock), clock, range(50))
    assert set(lived) == {30.0}


def test_a_stale_entry_is_loaded_again_and_none_is_never_kept() -> None:
    clock = Clock()
    cache: TtlCache[str, str] = TtlCache(10, clock=clock)
    loads: list[str] = []

    def load(value: str | None) -> str | None:
        loads.append(str(value))
        return value

    assert cache.get_or_load("k", lambda: load(None)) is None
    assert cache.get_or_load("k", lambda: load("a")) == "a"
    assert cache.get_or_load("k", lambda: load("b")) == "a"
    clock.now = 10.01
    assert cache.get("k") is None
    assert cache.get_or_load("k", lambda: load("b")) == "b"
    assert loads == ["None", "a", "b"]


def test_jitter_is_a_fraction_of_the_lifetime() -> None:
    with pytest.raises(ValueError, match="fraction"):
        TtlCache(30, jitter=1)


def test_a_refresh_holds_exactly_what_the_database_vouches_for_for_a_whole_life() -> None:
    clock = Clock()
    cache: TtlCache[str, str] = TtlCache(30, clock=clock)
    cache.get_or_load("gone", lambda: "robot-0")
    assert cache.refresh(lambda: {"a": "robot-1", "b": "robot-2"}) == 2
    assert cache.get("gone") is None  # its token was replaced: no longer vouched for
    clock.now = 29.9
    assert (cache.get("a"), cache.get("b")) == ("robot-1", "robot-2")
    clock.now = 30
    assert cache.get("a") is None  # not refreshed again in time: stale, never served


def test_a_fleet_refreshed_every_half_life_is_never_loaded_on_its_requests_path() -> None:
    clock = Clock()
    cache: TtlCache[int, str] = TtlCache(30, clock=clock)
    fleet = {n: f"robot-{n}" for n in range(2_000)}
    loaded: list[int] = []

    def load(n: int) -> str:
        loaded.append(n)
        return fleet[n]

    for second in range(300):
        clock.now = second
        if second % 15 == 0:
            cache.refresh(lambda: fleet)
        for n in range(0, 2_000, 7):
            assert cache.get_or_load(n, lambda n=n: load(n)) == fleet[n]
    assert loaded == []


def test_a_key_forgotten_while_a_refresh_reads_stays_forgotten() -> None:
    cache: TtlCache[str, str] = TtlCache(30, clock=Clock())

    def read_all() -> dict[str, str]:
        cache.forget("a")  # its token is replaced here while the database is read
        return {"a": "robot-1", "b": "robot-2"}

    cache.refresh(read_all)
    assert cache.get("a") is None
    assert cache.get("b") == "robot-2"


def test_without_a_lifetime_nothing_is_held() -> None:
    cache: TtlCache[str, str] = TtlCache(0, clock=Clock())
    assert cache.refresh(lambda: {"a": "robot-1"}) == 0
    assert cache.get_or_load("a", lambda: "robot-1") == "robot-1"
    assert cache.get("a") is None
