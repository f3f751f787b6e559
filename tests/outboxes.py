"""Reading a service's outbox in tests: the events it wrote, oldest first."""

from sqlalchemy import Engine, Table, select

from sidewalk.kernel.events import Envelope


def outbox_events(engine: Engine, table: Table) -> list[Envelope]:
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.envelope).order_by(table.c.seq))
        return [Envelope.from_json(row.envelope) for row in rows]
