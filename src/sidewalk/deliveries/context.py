"""What the deliveries use cases need from the outside world, wired once by the bootstrap."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sidewalk.deliveries.domain import MerchantPrincipal
from sidewalk.deliveries.eta import EtaEstimator
from sidewalk.deliveries.schemas import QuoteRead
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.kernel.audit import AuditLog
from sidewalk.kernel.cache import TtlCache
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.geo import ServiceAreas
from sidewalk.kernel.group_commit import GroupCommit
from sidewalk.kernel.rate_limit import RateLimiter
from sidewalk.kernel.settings import Settings

# The inbox's name for the events of the operations service this service has handled.
INBOX_CONSUMER = "deliveries"

if TYPE_CHECKING:
    from sidewalk.deliveries.ordering import OrderRequest


@dataclass
class DeliveriesContext:
    settings: Settings
    clock: Clock
    areas: ServiceAreas
    eta: EtaEstimator
    uow: Callable[[], DeliveriesUnitOfWork]
    principals: TtlCache[str, MerchantPrincipal]
    quote_writer: GroupCommit[QuoteRead]
    order_writer: "GroupCommit[OrderRequest]"
    audit: AuditLog
    rate_limit: RateLimiter  # per merchant
