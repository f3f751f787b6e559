"""A simulated merchant, using the merchant API's use cases as an integrator would: orders
arrive as a Poisson process whose rate follows the city's demand curve (drawn by thinning),
each is quoted, then ordered with an idempotency key, and a few are cancelled later."""

import random
from dataclasses import dataclass

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from sidewalk.deliveries import endings, ordering, quoting
from sidewalk.deliveries.domain import MerchantPrincipal
from sidewalk.deliveries.schemas import (
    CancelRequest,
    CustomerIn,
    DeliveryCreate,
    LocationIn,
    QuoteCreate,
)
from sidewalk.kernel.errors import SidewalkError
from sidewalk.simulator.city import Merchant
from sidewalk.simulator.world import World


@dataclass(frozen=True)
class Order:
    delivery_id: str
    merchant: str


class Dropoffs:
    """Customers' doors, spread evenly over the service areas."""

    def __init__(self, areas: list[BaseGeometry]) -> None:
        self._area = unary_union(areas)
        self._bounds = self._area.bounds

    def draw(self, rng: random.Random) -> tuple[float, float]:
        min_lng, min_lat, max_lng, max_lat = self._bounds
        while True:
            lng, lat = rng.uniform(min_lng, max_lng), rng.uniform(min_lat, max_lat)
            if self._area.contains(Point(lng, lat)):
                return round(lat, 6), round(lng, 6)


class MerchantAgent:
    def __init__(
        self,
        world: World,
        merchant: Merchant,
        principal: MerchantPrincipal,
        mean_per_hour: float,
        dropoffs: Dropoffs,
        orders: list[Order],
    ) -> None:
        self.world, self.merchant, self.principal = world, merchant, principal
        self._mean_per_s = mean_per_hour / 3600
        self._peak = max(world.city.demand_at(h) for h in range(24))
        self._dropoffs, self._orders = dropoffs, orders
        self._rng = world.rng(f"merchant:{merchant.place.name}")
        self._placed = 0

    def start(self) -> None:
        self._next_arrival()

    def _next_arrival(self) -> None:
        """Thinning: candidates at the peak rate, each kept with rate(t) ÷ peak."""
        peak_rate = self._mean_per_s * self._peak
        if peak_rate <= 0:
            return
        gap = self._rng.expovariate(peak_rate)

        def arrive() -> None:
            self._next_arrival()  # first: a refused order must not stop the merchant
            if self._rng.random() * self._peak < self._demand_now():
                self._order()

        self.world.agenda.after(gap, arrive)

    def _demand_now(self) -> float:
        world = self.world
        local_h = (world.agenda.now_s / 3600 + world.params.start_local_hour) % 24
        return world.city.demand_at(local_h)

    def _order(self) -> None:
        world, ctx = self.world, self.world.platform.deliveries
        self._placed += 1
        reference = f"{self.principal.id[-6:]}-{self._placed}"
        lat, lng = self._dropoffs.draw(self._rng)
        value = max(500, int(self._rng.gauss(self.merchant.order_value_cents, 800)))
        place = self.merchant.place
        world.tally.quotes += 1
        try:
            quote = quoting.price_quote(
                ctx,
                self.principal,
                QuoteCreate(
                    external_reference_id=reference,
                    pickup=LocationIn(
                        lat=place.lat, lng=place.lng, full_address=place.address or place.name
                    ),
                    dropoff=LocationIn(lat=lat, lng=lng, full_address=f"{lat:.5f}, {lng:.5f}"),
                    order_value_cents=value,
                ),
            )
        except SidewalkError:
            world.tally.refused += 1
            return
        quoting.store_quote(ctx, quote)
        try:
            ordered = ordering.create_delivery(
                ctx,
                self.principal,
                DeliveryCreate(
                    quote_id=quote.id,
                    customer=CustomerIn(name="Simulated Customer", phone="+13105550100"),
                ),
                idempotency_key=f"sim-{reference}",
            )
        except SidewalkError:
            world.tally.refused += 1
            return
        delivery_id = ordered.id
        world.tally.ordered += 1
        self._orders.append(Order(delivery_id, self.merchant.place.name))
        if self._rng.random() < world.params.cancel_rate:
            low, high = world.params.cancel_after_s
            world.agenda.after(self._rng.uniform(low, high), lambda: self._cancel(delivery_id))

    def _cancel(self, delivery_id: str) -> None:
        self.world.tally.cancel_asked += 1
        try:
            endings.cancel_delivery(
                self.world.platform.deliveries,
                self.principal,
                delivery_id,
                CancelRequest(reason="customer_changed_mind"),
            )
        except SidewalkError:
            self.world.tally.cancel_refused += 1  # too late: delivered, or already over
