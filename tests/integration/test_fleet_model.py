"""The fast fleet model against the full simulator: the same city, seed and fleet give the
same on-time and courier fallback shares within 2 points, from an ample fleet to one
overloaded at the dinner peak and one where trouble is common."""

import pytest

from sidewalk.planning.fleet_model import model_settings, run_model
from sidewalk.simulator.city import load_city
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.run import simulate

pytestmark = pytest.mark.slow

SCENARIOS = {
    "ample": SimParams(hours=4, start_local_hour=10, robots=100, pilots=25, orders_per_hour=60),
    "dinner peak, overloaded": SimParams(
        hours=2, start_local_hour=17, robots=200, pilots=50, orders_per_hour=400, seed=3
    ),
    "small fleet, much trouble": SimParams(
        hours=7,
        start_local_hour=10,
        robots=50,
        pilots=12,
        orders_per_hour=100,
        seed=11,
        fault_per_km=0.03,
        blocked_trip_rate=0.03,
        cancel_rate=0.05,
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_model_agrees_with_the_simulator(name: str) -> None:
    params, city = SCENARIOS[name], load_city()
    simulated = simulate(params, city)
    modelled = run_model(params, city, model_settings(params, city))
    assert not simulated.errors
    full, fast = simulated.kpis, modelled.kpis
    assert fast.orders == full.orders  # the same demand, order for order
    assert abs(fast.on_time_pct - full.on_time_pct) <= 0.02, (fast, full)
    assert abs(fast.fallback_pct - full.fallback_pct) <= 0.02, (fast, full)
