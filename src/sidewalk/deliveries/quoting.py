"""A merchant's quotes: a delivery priced with the times it promises, on the merchant's own
terms, and whether a trip is served at all and by whom."""

from sidewalk.deliveries import repository
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import (
    MerchantPrincipal,
    Schedule,
    check_schedule,
    not_found,
    plan_schedule,
    quote_expiry,
    quote_terms,
    serviceability,
)
from sidewalk.deliveries.quote_store import insert_quotes
from sidewalk.deliveries.schemas import (
    Fee,
    LocationRead,
    NotServedRead,
    QuoteCreate,
    QuoteRead,
    ServiceabilityCheck,
    ServiceabilityRead,
    WindowRead,
)
from sidewalk.deliveries.views import quote_read
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.ids import new_id


def price_quote(ctx: DeliveriesContext, merchant: MerchantPrincipal, cmd: QuoteCreate) -> QuoteRead:
    """Price a delivery and promise times, for a limited time (nothing is stored yet)."""
    pickup, dropoff = (
        LatLng(cmd.pickup.lat, cmd.pickup.lng),
        LatLng(cmd.dropoff.lat, cmd.dropoff.lng),
    )
    terms = quote_terms(
        merchant.terms,
        ctx.areas,
        pickup,
        dropoff,
        detour_factor=ctx.settings.detour_factor,
        courier_max_distance_m=ctx.settings.courier_max_distance_m,
    )
    now = ctx.clock.now()
    window = cmd.dropoff_window
    schedule = Schedule(
        cmd.pickup_ready_at,
        window.start_at if window else None,
        window.end_at if window else None,
    )
    check_schedule(schedule, now=now)
    eta = ctx.eta.estimate(
        terms.provider, pickup, dropoff, terms.distance_m, at=now, area_id=terms.service_area_id
    )
    planned = plan_schedule(schedule, pickup_eta=eta.pickup, dropoff_eta=eta.dropoff)
    quote = QuoteRead(
        id=new_id("quo"),
        external_reference_id=cmd.external_reference_id,
        merchant_id=merchant.id,
        pickup=LocationRead(id=new_id("loc"), **cmd.pickup.model_dump()),
        dropoff=LocationRead(id=new_id("loc"), **cmd.dropoff.model_dump()),
        provider=terms.provider,
        fee=Fee(amount_cents=terms.fee.amount_cents, currency=terms.fee.currency),
        distance_m=terms.distance_m,
        service_area_id=terms.service_area_id,
        order_value_cents=cmd.order_value_cents,
        pickup_ready_at=cmd.pickup_ready_at,
        dropoff_window=WindowRead(start_at=window.start_at, end_at=window.end_at)
        if window
        else None,
        pickup_eta=planned.pickup_at,
        dropoff_eta=planned.dropoff_at,
        expires_at=quote_expiry(now, merchant.terms.quote_lifetime_s),
        used_by_delivery_id=None,
        created_at=now,
    )
    quote._margins = eta.margins
    return quote


def check_serviceability(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, cmd: ServiceabilityCheck
) -> ServiceabilityRead:
    """Whether a quote for this trip would be given, and to whom, on the merchant's own terms;
    nothing is priced or stored."""
    served = serviceability(
        merchant.terms,
        ctx.areas,
        LatLng(cmd.pickup.lat, cmd.pickup.lng),
        LatLng(cmd.dropoff.lat, cmd.dropoff.lng),
        detour_factor=ctx.settings.detour_factor,
        courier_max_distance_m=ctx.settings.courier_max_distance_m,
    )
    return ServiceabilityRead(
        serviceable=served.provider is not None,
        provider=served.provider,
        distance_m=served.distance_m,
        service_area_id=served.service_area_id,
        not_served=[
            NotServedRead(provider=n.provider, code=n.code, detail=n.detail)
            for n in served.not_served
        ],
    )


def store_quote(ctx: DeliveriesContext, quote: QuoteRead) -> None:
    """Keep a priced quote, on its own; the API batches this through `ctx.quote_writer`."""
    with ctx.uow() as uow:
        insert_quotes(uow.connection, [quote])
        uow.commit()


def get_quote(ctx: DeliveriesContext, merchant: MerchantPrincipal, quote_id: str) -> QuoteRead:
    with ctx.uow() as uow:
        quote = repository.quote(uow.session, merchant.id, quote_id)
        if quote is None:
            raise not_found("quote", quote_id)
        return quote_read(quote)
