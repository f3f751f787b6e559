"""What the operations use cases need from the outside world, wired once by the bootstrap."""

from collections.abc import Callable
from dataclasses import dataclass

from sidewalk.kernel.audit import AuditLog
from sidewalk.kernel.cache import TtlCache
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.flusher import Flusher
from sidewalk.kernel.geo import ServiceAreas
from sidewalk.kernel.rate_limit import RateLimiter
from sidewalk.kernel.settings import Settings
from sidewalk.kernel.uow import ReadUnitOfWork
from sidewalk.operations.domain import Principal
from sidewalk.operations.positions import LivePositions
from sidewalk.operations.uow import OperationsUnitOfWork


@dataclass
class OperationsContext:
    settings: Settings
    clock: Clock
    areas: ServiceAreas
    uow: Callable[[], OperationsUnitOfWork]
    # A unit of work that only reads: it takes no write lock (on SQLite a deferred
    # transaction of a reader's connection), so a board or a robot's poll never holds a
    # writer up. It commits nothing and records nothing.
    read: Callable[[], ReadUnitOfWork]
    principals: TtlCache[str, Principal]
    # Refreshes `principals` with every valid token, at start and every half of their life
    principals_refresh: Flusher
    audit: AuditLog
    rate_limit: RateLimiter  # per operator
    positions: LivePositions  # the robots' latest readings, written in batches
