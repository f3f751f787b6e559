"""State machines are data: a table of allowed moves per status, and one function that applies
it. A terminal status (no way out in the table) never changes again."""

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from sidewalk.kernel.errors import InvalidTransition

S = TypeVar("S", bound=StrEnum)

Transitions = Mapping[S, frozenset[S]]


class Stateful(Protocol):
    """Anything with a status and a record of when it entered each one."""

    status: str
    status_times: dict[str, str]


def is_terminal(table: Mapping[S, frozenset[S]], status: S) -> bool:
    return not table[status]


def check(entity: str, table: Mapping[S, frozenset[S]], current: S, to: S) -> None:
    """Raise `InvalidTransition` unless `current → to` is in the table."""
    allowed = table[current]
    if to not in allowed:
        raise InvalidTransition(
            entity, current.value, to.value, frozenset(s.value for s in allowed)
        )


def transition(
    entity: str, table: Mapping[S, frozenset[S]], obj: Stateful, to: S, *, at: datetime
) -> S:
    """Move `obj` to `to` at `at`, stamping the time it entered; return the status it left."""
    current = type(to)(obj.status)
    check(entity, table, current, to)
    obj.status = to.value
    obj.status_times = {**(obj.status_times or {}), to.value: at.isoformat()}
    return current
