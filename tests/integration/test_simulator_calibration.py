"""The simulated world behaves as configured and the platform's promises hold in it: where
robots are ample, on-time measures the promises, and they are kept; faults strike at the
configured rate per kilometre driven, and the platform records each one."""

import math

import pytest
from sqlalchemy import func, select

from sidewalk.operations.domain import RobotState
from sidewalk.operations.models import StateHistory
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.run import finished_simulation

pytestmark = pytest.mark.slow

# Robots to spare (well under one order in a hundred waits for one), and a world without
# trouble: what is left to miss a promise is the promise.
AMPLE = SimParams(
    hours=4,
    start_local_hour=10,
    robots=100,
    pilots=25,
    orders_per_hour=60,
    fault_per_km=0.0,
    blocked_trip_rate=0.0,
)


def test_promises_are_kept_where_robots_are_ample() -> None:
    with finished_simulation(AMPLE) as (_, result):
        k = result.kpis
    assert not result.errors
    assert k.due > 200
    assert k.fallbacks <= 0.01 * k.orders  # ample indeed
    assert k.on_time_pct >= 0.97


def test_faults_strike_at_the_configured_rate_per_km() -> None:
    rate_per_km = 0.3  # high, for a tight test: about 120 faults
    params = SimParams(
        hours=4,
        start_local_hour=10,
        robots=60,
        pilots=15,
        orders_per_hour=60,
        fault_per_km=rate_per_km,
        blocked_trip_rate=0.0,
    )
    with finished_simulation(params) as (sim, result):
        tally = sim.world.tally
        with sim.world.platform.operations.uow() as uow:
            recorded = uow.session.scalar(
                select(func.count()).where(StateHistory.state == RobotState.FAULT)
            )
    assert not result.errors
    expected = rate_per_km * tally.driven_m / 1000
    assert expected > 50
    # A Poisson count: within 3.5 standard deviations of what the rate predicts.
    assert abs(tally.faults - expected) <= 3.5 * math.sqrt(expected)
    assert recorded == tally.faults  # the platform heard of every one
