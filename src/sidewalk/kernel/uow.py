"""One use case, one transaction: `with uow:` opens it and rolls it back unless the use case
called `commit()`. Services subclass it to record what their use cases produce (the
timeline, the outbox) in that same transaction."""

from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.orm import Session, sessionmaker

from sidewalk.kernel.clock import Clock
from sidewalk.kernel.db import Inserts
from sidewalk.kernel.outbox import first_time


class UnitOfWork:
    # The service's inbox: which of its consumers has handled which event.
    inbox: Table | None = None

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        write_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """`write_lock`, when given, is held for the whole transaction: on SQLite, which admits
        one writer at a time, threads then queue on it instead of sleeping in the database's
        busy handler.

        The transaction is a connection's; an ORM session over it is made only when the use
        case asks for one (`session`): a use case of plain statements (`connection`) costs
        no session, whose making, joining and closing cost more than its statements."""
        self._sessions = sessions
        self._engine: Engine = sessions.kw["bind"]
        self.clock = clock
        self._lock = write_lock or nullcontext()
        self._given: Session | None = None
        self._session: Session | None = None
        self._connection: Connection | None = None
        # What the transaction inserts at its end (a timeline, an outbox, new records).
        self.inserts = Inserts()

    def over(self, session: Session) -> Self:
        """This unit of work run in `session` (one whose statements wait on the event loop,
        say), and without the write lock, which only SQLite needs."""
        self._given, self._lock = session, nullcontext()
        return self

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for plain statements."""
        if self._connection is None:
            if self._session is None:
                raise RuntimeError("the unit of work is used outside `with uow:`")
            self._connection = self._session.connection()
        return self._connection

    @property
    def session(self) -> Session:
        """An ORM session in the transaction, made on first use."""
        if self._session is None:
            if self._connection is None:
                raise RuntimeError("the unit of work is used outside `with uow:`")
            self._session = self._sessions(
                bind=self._connection, join_transaction_mode="control_fully"
            )
            self._session.begin()
        return self._session

    def flush(self) -> None:
        """Write what the ORM holds, if the use case made a session."""
        if self._session is not None:
            self._session.flush()

    def first_time(self, consumer: str, event_id: str) -> bool:
        """Note in this transaction that `consumer` handles `event_id`: False when it did
        already (a redelivery, to be left alone). The one place duplicates are seen; the
        note stands only if the transaction commits."""
        assert self.inbox is not None, "this service keeps no inbox"
        return first_time(self.connection, self.inbox, consumer, event_id, self.clock.now())

    def __enter__(self) -> Self:
        self._lock.__enter__()
        try:
            if self._given is not None:
                self._session = self._given
                self._session.begin()
            else:
                self._connection = self._engine.connect()
                self._connection.begin()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
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
        session, connection = self._session, self._connection
        self._session = self._connection = None
        try:
            if session is not None:
                if exc_type is None and self.detaches:
                    session.expunge_all()
                try:
                    session.rollback()
                finally:
                    session.close()
            if connection is not None and self._given is None:
                connection.close()  # rolls back what was not committed
        finally:
            self._lock.__exit__(None, None, None)

    def commit(self) -> None:
        """Write what the ORM holds, then the rows kept in `inserts` (which may point at it),
        and commit."""
        self.flush()
        self.inserts.write(self.connection)
        if self._session is not None:
            self._session.commit()
        else:
            self.connection.commit()

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
        elif self._connection is not None:
            self._connection.rollback()


class ReadUnitOfWork(UnitOfWork):
    """A unit of work that only reads: it commits nothing, and hands what it loaded back
    detached and readable."""

    detaches = True

    def commit(self) -> None:
        raise RuntimeError("a unit of work that only reads commits nothing")
