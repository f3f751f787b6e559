"""Group commit: concurrent submissions share a write; a bad item fails alone."""

import asyncio

import pytest

from sidewalk.kernel.group_commit import GroupCommit


def test_concurrent_items_are_written_together_and_each_caller_waits_for_its_commit() -> None:
    batches: list[list[int]] = []

    async def write(items: list[int]) -> None:
        await asyncio.sleep(0.01)
        batches.append(items)

    async def main() -> None:
        commit = GroupCommit(write)
        await asyncio.gather(*(commit.submit(i) for i in range(50)))
        assert sorted(i for b in batches for i in b) == list(range(50))
        await commit.aclose()

    asyncio.run(main())
    assert len(batches) < 50  # shared transactions, not one each
    assert all(b == sorted(b) for b in batches)  # order of arrival kept


def test_one_bad_item_fails_alone_and_its_neighbours_are_written() -> None:
    written: list[int] = []

    async def write(items: list[int]) -> None:
        if 13 in items:
            raise ValueError("13 cannot be stored")
        written.extend(items)

    async def main() -> list[BaseException | None]:
        commit = GroupCommit(write)
        results = await asyncio.gather(
            *(commit.submit(i) for i in range(20)), return_exceptions=True
        )
        return list(results)

    results = asyncio.run(main())
    assert isinstance(results[13], ValueError)
    assert [r for i, r in enumerate(results) if i != 13] == [None] * 19
    assert sorted(written) == [i for i in range(20) if i != 13]


def test_batches_never_exceed_the_limit() -> None:
    sizes: list[int] = []

    async def write(items: list[int]) -> None:
        sizes.append(len(items))

    async def main() -> None:
        commit = GroupCommit(write, max_batch=8)
        await asyncio.gather(*(commit.submit(i) for i in range(100)))

    asyncio.run(main())
    assert sum(sizes) == 100
    assert max(sizes) <= 8


def test_closing_releases_the_writer() -> None:
    closed: list[bool] = []

    async def write(items: list[int]) -> None:
        return None

    async def close() -> None:
        closed.append(True)

    async def main() -> None:
        commit = GroupCommit(write, close=close)
        await commit.submit(1)
        await commit.aclose()

    asyncio.run(main())
    assert closed == [True]


@pytest.mark.parametrize("count", [1, 2])
def test_a_lone_item_is_written_without_waiting_for_company(count: int) -> None:
    async def write(items: list[int]) -> None:
        return None

    async def main() -> None:
        commit = GroupCommit(write)
        await asyncio.wait_for(asyncio.gather(*(commit.submit(i) for i in range(count))), 1)

    asyncio.run(main())


def test_with_several_writers_batches_are_written_at_once_and_none_is_left_behind() -> None:
    in_flight, most, written = 0, 0, []

    async def write(items: list[int]) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        written.extend(items)

    async def main() -> None:
        commit = GroupCommit(write, writers=3)
        for wave in range(5):  # items arriving while batches are being written
            await asyncio.gather(
                *(commit.submit(wave * 100 + i) for i in range(20)),
                *(_later(commit, wave * 100 + 50 + i, 0.003 * i) for i in range(10)),
            )
        await commit.aclose()

    asyncio.run(main())
    assert sorted(written) == sorted(
        w * 100 + i for w in range(5) for i in [*range(20), *range(50, 60)]
    )
    assert 1 < most <= 3


async def _later(commit: GroupCommit[int], item: int, delay: float) -> None:
    await asyncio.sleep(delay)
    await commit.submit(item)
