"""Sessions whose statements wait on the event loop instead of a thread: SQLAlchemy's asyncio
bridge runs a synchronous unit of work in a greenlet, and each of its statements awaits an
async driver connection of the running loop. For a batch write on PostgreSQL that is a dozen
round trips: from a thread, each of them gives the interpreter lock up and, while the loop is
busy, waits about a millisecond to get it back; on the loop, each only yields it to the
requests being served."""

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar, cast

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

T = TypeVar("T")


class LoopSessions:
    """An async engine per event loop (a connection belongs to the loop that opened it) for
    the database of `engine`, which must have an async driver (psycopg has both)."""

    def __init__(self, engine: Engine, *, pool_size: int = 4) -> None:
        self._url, self._pool_size = engine.url, pool_size
        self._sessions: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, async_sessionmaker[AsyncSession]
        ] = weakref.WeakKeyDictionary()

    async def run(self, work: Callable[[Session], T]) -> T:
        """`work(session)` with a fresh session whose statements wait on this loop; `work`
        opens and ends its transaction itself."""
        loop = asyncio.get_running_loop()
        sessions = self._sessions.get(loop)
        if sessions is None:
            engine = create_async_engine(
                self._url, pool_size=self._pool_size, max_overflow=0, pool_pre_ping=True
            )
            sessions = self._sessions[loop] = async_sessionmaker(
                engine, expire_on_commit=False, autobegin=False
            )
        async with sessions() as session:
            return await session.run_sync(work)

    async def aclose(self) -> None:
        sessions = self._sessions.pop(asyncio.get_running_loop(), None)
        if sessions is not None:
            await cast(AsyncEngine, sessions.kw["bind"]).dispose()
