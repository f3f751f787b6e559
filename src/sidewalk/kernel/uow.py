"""One use case, one transaction: `with uow:` opens it and rolls it back unless the use case
called `commit()`. Services subclass it to record what their use cases produce (the
timeline, the outbox) in that same transaction."""

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session

from sidewalk.kernel.clock import Clock
from sidewalk.kernel.db import Inserts


class UnitOfWork:
    def __init__(
        self,
        session_factory: Callable[[], Session],
        clock: Clock,
        *,
        write_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """`write_lock`, when given, is held for the whole transaction: on SQLite, which admits
        one writer at a time, threads then queue on it instead of sleeping in the database's
        busy handler."""
        self._session_factory = session_factory
        self.clock = clock
        self._lock = write_lock or nullcontext()
        self._session: Session | None = None
        # What the transaction inserts at its end (a timeline, an outbox, new records).
        self.inserts = Inserts()

    def over(self, session: Session) -> Self:
        """This unit of work run in `session` (one whose statements wait on the event loop,
        say), and without the write lock, which only SQLite needs."""
        self._session_factory, self._lock = (lambda: session), nullcontext()
        return self

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside `with uow:`")
        return self._session

    def __enter__(self) -> Self:
        self._lock.__enter__()
        self._session = self._session_factory()
        self._session.begin()
        self.inserts.clear()
        return self

    # Whether a use case that ends without error hands back what it loaded as plain detached
    # objects, still readable (the rollback that ends a read would expire them).
    detaches: bool = False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self.detaches:
            self.session.expunge_all()
        try:
            self.session.rollback()
        finally:
            self.session.close()
            self._session = None
            self._lock.__exit__(None, None, None)

    def commit(self) -> None:
        """Write what the ORM holds, then the rows kept in `inserts` (which may point at it),
        and commit."""
        self.session.flush()
        self.inserts.write(self.session.connection())
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class ReadUnitOfWork(UnitOfWork):
    """A unit of work that only reads: it commits nothing, and hands what it loaded back
    detached and readable."""

    detaches = True

    def commit(self) -> None:
        raise RuntimeError("a unit of work that only reads commits nothing")
