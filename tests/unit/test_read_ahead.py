"""Reading the next batch while the caller loads one: the batches arrive in order, a reading
error reaches the caller at that batch, and a caller that stops early closes the reading (the
source's connection is given back) in the thread that read."""

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from sidewalk.warehouse.reads import read_ahead


def _batch(n: int) -> pa.Table:
    return pa.table({"n": [n]})


def test_batches_arrive_in_order_and_all_of_them() -> None:
    source = (_batch(n) for n in range(5))
    assert [b.column("n")[0].as_py() for b in read_ahead(source)] == [0, 1, 2, 3, 4]


def test_a_reading_error_reaches_the_caller_after_the_batches_before_it() -> None:
    def source() -> Iterator[pa.Table]:
        yield _batch(1)
        raise OSError("disk gone")

    seen: list[int] = []

    def load_all() -> None:
        for batch in read_ahead(source()):
            seen.append(batch.column("n")[0].as_py())

    with pytest.raises(OSError, match="disk gone"):
        load_all()
    assert seen == [1]


def test_a_caller_that_stops_early_closes_the_reading_in_the_reading_thread() -> None:
    closed_in: list[str] = []
    read_in: list[str] = []

    def source() -> Iterator[pa.Table]:
        try:
            for n in range(100):
                read_in.append(threading.current_thread().name)
                yield _batch(n)
        finally:
            closed_in.append(threading.current_thread().name)

    def fail_loading() -> None:
        for _ in read_ahead(source()):
            raise RuntimeError("load failed")

    with pytest.raises(RuntimeError, match="load failed"):
        fail_loading()

    assert len(closed_in) == 1
    assert closed_in[0] == read_in[0] != threading.current_thread().name
    assert len(read_in) <= 2  # the batch being loaded and at most one read ahead
