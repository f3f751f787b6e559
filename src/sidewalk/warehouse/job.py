"""A sync as the platform runs it: the services' databases and the warehouse named by the
settings, once (`sidewalk warehouse sync`) or on a schedule beside the services (`serve`,
`demo`). The warehouse is opened for each sync and closed after it, so that between syncs
other processes may open the DuckDB file (which takes one writer at a time) to query it."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sidewalk import migrations
from sidewalk.kernel.db import make_engine
from sidewalk.kernel.settings import Settings
from sidewalk.warehouse.sync import Progress, SyncSources, sync
from sidewalk.warehouse.target import Warehouse, open_warehouse

log = logging.getLogger(__name__)


@contextmanager
def sync_sources(settings: Settings, *, migrate: bool = True) -> Iterator[SyncSources]:
    """The services' databases, brought to their newest revision first unless their platform
    already did (so that a sync on a fresh machine finds empty tables rather than none), then
    read without write locks."""
    readers = []
    for service, url in (
        ("deliveries", settings.deliveries_url),
        ("operations", settings.operations_url),
    ):
        if migrate:
            writer = make_engine(url, pool_size=1)
            try:
                migrations.upgrade(service, writer)
            finally:
                writer.dispose()
        readers.append(make_engine(url, pool_size=1, writer=False))
    try:
        yield SyncSources(deliveries=readers[0], operations=readers[1])
    finally:
        for engine in readers:
            engine.dispose()


@contextmanager
def opened_warehouse(settings: Settings) -> Iterator[Warehouse]:
    warehouse = open_warehouse(settings.warehouse)
    try:
        yield warehouse
    finally:
        warehouse.close()


def sync_now(
    settings: Settings,
    *,
    migrate: bool = True,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Progress | None = None,
) -> dict[str, int]:
    """One sync of everything the settings name; rows added or changed per warehouse table."""
    with (
        sync_sources(settings, migrate=migrate) as sources,
        opened_warehouse(settings) as warehouse,
    ):
        return sync(
            sources,
            warehouse,
            overlap_s=settings.warehouse_sync_overlap_s,
            batch_rows=settings.warehouse_batch_rows,
            now=now,
            progress=progress,
        )


async def sync_on_schedule(settings: Settings, stop: asyncio.Event) -> None:
    """Sync every `warehouse_sync_interval_s` until `stop` is set; a failed sync is logged and
    tried again at the next interval (it resumes where the last one stopped). The caller's
    platform has migrated the services' databases already."""
    interval = settings.warehouse_sync_interval_s
    if interval <= 0:
        return
    while not stop.is_set():
        try:
            changed = await asyncio.to_thread(sync_now, settings, migrate=False)
            log.info("warehouse sync: %d rows added or changed", sum(changed.values()))
        except Exception:
            log.exception("the warehouse sync failed; trying again in %.0f s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
