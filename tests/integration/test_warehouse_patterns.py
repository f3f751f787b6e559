"""Every query pattern on DuckDB and PostgreSQL, on a small world written straight into the
warehouse tables, against answers worked out by hand (the arithmetic is in the comments).

The world, over two UTC days (2026-06-01 is a Monday):

    delivery  merchant  ordered      attempts                         ended              fee
    dlv_1     Alpha     06-01 10:00  robot ok                         delivered 10:30    500
    dlv_2     Alpha     06-01 11:00  robot failed, courier ok         delivered 12:00    700
    dlv_3     Bravo     06-01 12:00  robot ok                         delivered 12:45    600
    dlv_4     Bravo     06-01 13:00  robot cancelled                  cancelled 13:05    400
    dlv_5     Alpha     06-02 09:00  courier ok                       delivered 09:40    900
    dlv_6     Charlie   06-02 10:00  robot failed, courier failed     failed 10:30       800
    dlv_7     Charlie   06-02 23:30  none                             pending            300
    dlv_8     Bravo     06-02 22:00  robot under way                  enroute_to_pickup  650

with the quoted drop-off times 10:35, 11:50, 12:40, 13:40, 09:45, 10:40, 23:59 and 22:40."""

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest

from sidewalk.warehouse.patterns import ensure_tables, load_patterns, run_pattern
from sidewalk.warehouse.report import render_report
from sidewalk.warehouse.target import Warehouse
from tests.unit.test_report import parse

approx = pytest.approx


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of June 2026, UTC."""
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def insert(warehouse: Warehouse, table: str, **values: Any) -> None:
    columns = ", ".join(f'"{c}"' for c in values)
    slots = ", ".join(f":v{i}" for i in range(len(values)))
    warehouse.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({slots})",
        {f"v{i}": v for i, v in enumerate(values.values())},
    )


def add_delivery(
    warehouse: Warehouse,
    number: int,
    merchant: str,
    status: str,
    times: Mapping[str, datetime],
    *,
    fee_cents: int,
    dropoff_eta: datetime,
) -> None:
    """A delivery with its quote; `times` are its `<status>_at` columns, `pending` first."""
    insert(
        warehouse,
        "deliveries_v3.quotes",
        id=f"quo_{number}",
        merchant_id=merchant,
        pickup_location_id="loc_pickup",
        dropoff_location_id="loc_dropoff",
        provider="robot",
        fee_cents=fee_cents,
        currency="USD",
        dropoff_eta=dropoff_eta,
        created_at=times["pending"],
    )
    insert(
        warehouse,
        "deliveries_v3.deliveries",
        id=f"dlv_{number}",
        quote_id=f"quo_{number}",
        merchant_id=merchant,
        status=status,
        created_at=times["pending"],
        updated_at=max(times.values()),
        **{f"{s}_at": t for s, t in times.items()},
    )


def add_attempt(
    warehouse: Warehouse,
    delivery: int,
    sequence: int,
    number: int,
    provider: str,
    status: str,
    requested: datetime,
    ended: datetime | None = None,
    failure_reason: str | None = None,
) -> None:
    ending = {f"{status}_at": ended} if ended is not None else {}
    insert(
        warehouse,
        "deliveries_v3.attempts",
        id=f"att_{number}",
        provider=provider,
        status=status,
        failure_reason=failure_reason,
        created_at=requested,
        updated_at=ended or requested,
        requested_at=requested,
        **ending,
    )
    insert(
        warehouse,
        "deliveries_v3.delivery_attempts",
        delivery_id=f"dlv_{delivery}",
        attempt_id=f"att_{number}",
        sequence=sequence,
    )


WAY = ("pending", "assigned", "enroute_to_pickup", "at_pickup", "enroute_to_dropoff")


def way(*times: datetime) -> dict[str, datetime]:
    """The first statuses on the way to the customer, reached at `times`."""
    return dict(zip(WAY[: len(times)], times, strict=True))


def add_deliveries(warehouse: Warehouse) -> None:
    merchants = (("mer_a", "Alpha Bakery"), ("mer_b", "Bravo Books"), ("mer_c", "Charlie Cafe"))
    for merchant, name in merchants:
        insert(warehouse, "config.merchants", id=merchant, name=name, currency="USD")
    for place in ("loc_pickup", "loc_dropoff"):
        insert(
            warehouse, "deliveries_v3.locations", id=place, lat=34.0, lng=-118.0, full_address=place
        )
    d = add_delivery
    d(warehouse, 1, "mer_a", "delivered",
      way(at(1, 10), at(1, 10, 2), at(1, 10, 2), at(1, 10, 10), at(1, 10, 12))
      | {"at_dropoff": at(1, 10, 28), "delivered": at(1, 10, 30)},
      fee_cents=500, dropoff_eta=at(1, 10, 35))  # fmt: skip
    # A courier hands over without an at_dropoff status.
    d(warehouse, 2, "mer_a", "delivered",
      way(at(1, 11), at(1, 11, 1), at(1, 11, 1), at(1, 11, 10), at(1, 11, 15))
      | {"delivered": at(1, 12)},
      fee_cents=700, dropoff_eta=at(1, 11, 50))  # fmt: skip
    d(warehouse, 3, "mer_b", "delivered",
      way(at(1, 12), at(1, 12, 1), at(1, 12, 1), at(1, 12, 10), at(1, 12, 12))
      | {"at_dropoff": at(1, 12, 40), "delivered": at(1, 12, 45)},
      fee_cents=600, dropoff_eta=at(1, 12, 40))  # fmt: skip
    d(warehouse, 4, "mer_b", "cancelled",
      way(at(1, 13), at(1, 13, 1)) | {"cancelled": at(1, 13, 5)},
      fee_cents=400, dropoff_eta=at(1, 13, 40))  # fmt: skip
    d(warehouse, 5, "mer_a", "delivered",
      way(at(2, 9), at(2, 9, 5), at(2, 9, 5), at(2, 9, 15), at(2, 9, 20))
      | {"at_dropoff": at(2, 9, 38), "delivered": at(2, 9, 40)},
      fee_cents=900, dropoff_eta=at(2, 9, 45))  # fmt: skip
    d(warehouse, 6, "mer_c", "failed",
      way(at(2, 10), at(2, 10, 1), at(2, 10, 1)) | {"failed": at(2, 10, 30)},
      fee_cents=800, dropoff_eta=at(2, 10, 40))  # fmt: skip
    d(warehouse, 7, "mer_c", "pending", way(at(2, 23, 30)),
      fee_cents=300, dropoff_eta=at(2, 23, 59))  # fmt: skip
    d(warehouse, 8, "mer_b", "enroute_to_pickup", way(at(2, 22), at(2, 22, 1), at(2, 22, 1)),
      fee_cents=650, dropoff_eta=at(2, 22, 40))  # fmt: skip
    a = add_attempt
    a(warehouse, 1, 1, 1, "robot", "succeeded", at(1, 10, 1), at(1, 10, 30))
    a(warehouse, 2, 1, 2, "robot", "failed", at(1, 11), at(1, 11, 5), "robot_fault")
    a(warehouse, 2, 2, 3, "courier", "succeeded", at(1, 11, 6), at(1, 12))
    a(warehouse, 3, 1, 4, "robot", "succeeded", at(1, 12, 1), at(1, 12, 45))
    a(warehouse, 4, 1, 5, "robot", "cancelled", at(1, 13, 1), at(1, 13, 5))
    a(warehouse, 5, 1, 6, "courier", "succeeded", at(2, 9, 1), at(2, 9, 40))
    a(warehouse, 6, 1, 7, "robot", "failed", at(2, 10, 1), at(2, 10, 10), "robot_offline")
    a(warehouse, 6, 2, 8, "courier", "failed", at(2, 10, 11), at(2, 10, 30))
    a(warehouse, 8, 1, 9, "robot", "in_progress", at(2, 22, 1))


def add_robot_states(warehouse: Warehouse) -> None:
    """SW-0001 works one day; SW-0002 has a fault, a maintenance stop and a task across
    midnight; SW-0003 is still on its task when the history ends (at SW-0002's 03:00)."""
    history = {
        "SW-0001": [
            (at(1, 7), "offline"), (at(1, 8), "idle"), (at(1, 10), "on_task"),
            (at(1, 12), "idle"), (at(1, 14), "on_task"), (at(1, 15), "charging"),
            (at(1, 16), "idle"), (at(1, 20), "offline"),
        ],
        "SW-0002": [
            (at(1, 9), "idle"), (at(1, 11), "on_task"), (at(1, 13), "fault"),
            (at(1, 14), "maintenance"), (at(1, 16), "idle"), (at(1, 22), "on_task"),
            (at(2, 2), "idle"), (at(2, 3), "offline"),
        ],
        "SW-0003": [(at(2, 1), "idle"), (at(2, 2, 30), "on_task")],
    }  # fmt: skip
    for serial, changes in history.items():
        previous = None
        for when, state in changes:
            insert(
                warehouse,
                "deliveries_v3.state_history",
                serial=serial,
                date=when,
                state=state,
                previous_state=previous,
            )
            previous = state


def add_pilot_assignments(warehouse: Warehouse) -> None:
    """Pat overlaps two robots from 11:00 to 12:00 and supervises one across midnight; Sam
    takes a robot at the very moment another is released (never two at once), then a second
    one from 02:30, the first still open when the assignments end (at 03:00)."""
    insert(warehouse, "config.operators", id="opr_1", display_name="Pat", role="pilot")
    insert(warehouse, "config.operators", id="opr_2", display_name="Sam", role="pilot")
    spans = [
        ("pas_1", "opr_1", "SW-0001", at(1, 10), at(1, 12)),
        ("pas_2", "opr_1", "SW-0002", at(1, 11), at(1, 13)),
        ("pas_3", "opr_1", "SW-0001", at(1, 14), at(1, 15)),
        ("pas_4", "opr_1", "SW-0002", at(1, 23), at(2, 1)),
        ("pas_5", "opr_2", "SW-0003", at(2, 1), at(2, 2)),
        ("pas_6", "opr_2", "SW-0003", at(2, 2), None),
        ("pas_7", "opr_2", "SW-0002", at(2, 2, 30), at(2, 3)),
    ]
    for id_, pilot, serial, assigned, released in spans:
        insert(
            warehouse,
            "deliveries_v3.pilot_assignments",
            id=id_,
            pilot_id=pilot,
            task_id=f"tsk_{id_}",
            robot_serial=serial,
            assigned_at=assigned,
            released_at=released,
        )


def add_legacy_and_crm(warehouse: Warehouse) -> None:
    legacy = [
        ("old-1", datetime(2026, 4, 10, 12, tzinfo=UTC), datetime(2026, 4, 10, 13, tzinfo=UTC)),
        ("old-2", datetime(2026, 4, 20, 12, tzinfo=UTC), None),
        ("old-3", datetime(2026, 5, 5, 12, tzinfo=UTC), datetime(2026, 5, 5, 13, tzinfo=UTC)),
        ("old-4", at(1, 5), at(1, 6)),
    ]
    for order_id, created, delivered in legacy:
        insert(
            warehouse,
            "deliveries_legacy.deliveries",
            order_id=order_id,
            merchant_name="Alpha Bakery",
            created_at=created,
            delivered_at=delivered,
            final_status="delivered" if delivered else "cancelled",
            import_id="imp_1",
        )
    accounts = [
        ("acc_1", "Alpha Bakery Inc", "mer_a"),
        ("acc_2", "Bravo Books LLC", "mer_b"),
        ("acc_3", "Delta Prospect", None),
    ]
    for id_, name, merchant in accounts:
        insert(
            warehouse, "crm.accounts", id=id_, name=name, merchant_id=merchant, imported_at=at(3, 0)
        )
    opportunities = [
        ("opp_1", "acc_1", 120_000, date(2026, 5, 20), True),
        ("opp_2", "acc_1", 30_000, date(2026, 6, 1), True),
        ("opp_3", "acc_1", 50_000, date(2026, 5, 25), False),
        ("opp_4", "acc_2", 10_000, None, None),
        ("opp_5", "acc_3", 5_000, date(2026, 6, 2), True),
    ]
    for id_, account, amount, closed, won in opportunities:
        insert(
            warehouse,
            "crm.opportunities",
            id=id_,
            account_id=account,
            name=id_,
            amount_cents=amount,
            close_date=closed,
            is_won=won,
            imported_at=at(3, 0),
        )


@pytest.fixture
def world(warehouse: Warehouse) -> Warehouse:
    ensure_tables(warehouse)
    add_deliveries(warehouse)
    add_robot_states(warehouse)
    add_pilot_assignments(warehouse)
    add_legacy_and_crm(warehouse)
    return warehouse


DAY_1, DAY_2 = date(2026, 6, 1), date(2026, 6, 2)
ONLY_DAY_2 = {"from_day": "2026-06-02", "to_day": "2026-06-02"}


def test_every_pattern_answers_an_empty_warehouse_with_no_rows(warehouse: Warehouse) -> None:
    for p in load_patterns():
        given = dict.fromkeys(p.required, "dlv_1")
        columns, rows = run_pattern(warehouse, p.name, given)
        assert columns, p.name
        assert rows == [], p.name


def test_deliveries_per_merchant_per_day(world: Warehouse) -> None:
    columns, rows = run_pattern(world, "deliveries_per_merchant_per_day", {})
    assert columns == [
        "day", "merchant_id", "merchant_name",
        "deliveries", "delivered", "cancelled", "failed_or_returned", "open",
    ]  # fmt: skip
    assert rows == [
        (DAY_1, "mer_a", "Alpha Bakery", 2, 2, 0, 0, 0),  # dlv_1, dlv_2
        (DAY_1, "mer_b", "Bravo Books", 2, 1, 1, 0, 0),  # dlv_3, dlv_4 cancelled
        (DAY_2, "mer_a", "Alpha Bakery", 1, 1, 0, 0, 0),  # dlv_5
        (DAY_2, "mer_b", "Bravo Books", 1, 0, 0, 0, 1),  # dlv_8 under way
        (DAY_2, "mer_c", "Charlie Cafe", 2, 0, 0, 1, 1),  # dlv_6 failed, dlv_7 pending
    ]
    _, first_day = run_pattern(
        world, "deliveries_per_merchant_per_day", {"from_day": "2026-06-01", "to_day": "2026-06-01"}
    )
    assert first_day == rows[:2]


def test_status_funnel(world: Warehouse) -> None:
    columns, rows = run_pattern(world, "status_funnel", {})
    assert columns == ["step", "stage", "path", "deliveries", "share_of_orders"]
    assert rows == [
        (1, "pending", "way", 8, 1.0),
        (2, "assigned", "way", 7, approx(7 / 8)),  # all but dlv_7
        (3, "enroute_to_pickup", "way", 6, approx(6 / 8)),  # and not dlv_4 (cancelled)
        (4, "at_pickup", "way", 4, approx(4 / 8)),  # dlv_1, 2, 3, 5
        (5, "enroute_to_dropoff", "way", 4, approx(4 / 8)),
        (6, "at_dropoff", "way", 4, approx(4 / 8)),  # dlv_2 skipped it but was delivered
        (7, "delivered", "way", 4, approx(4 / 8)),
        (8, "cancelled", "exit", 1, approx(1 / 8)),  # dlv_4
        (9, "failed", "exit", 1, approx(1 / 8)),  # dlv_6
        (10, "returning", "exit", 0, 0.0),
        (11, "returned", "exit", 0, 0.0),
    ]
    _, day_2 = run_pattern(world, "status_funnel", ONLY_DAY_2)  # dlv_5, 6, 7, 8
    assert [(stage, n) for _, stage, _, n, _ in day_2] == [
        ("pending", 4),
        ("assigned", 3),  # not dlv_7
        ("enroute_to_pickup", 3),
        ("at_pickup", 1),  # dlv_5
        ("enroute_to_dropoff", 1),
        ("at_dropoff", 1),
        ("delivered", 1),
        ("cancelled", 0),
        ("failed", 1),  # dlv_6
        ("returning", 0),
        ("returned", 0),
    ]


def test_provider_success_and_fallback(world: Warehouse) -> None:
    columns, rows = run_pattern(world, "provider_success_and_fallback", {})
    assert columns == [
        "provider", "attempts", "succeeded", "failed", "cancelled", "unfinished",
        "succeeded_share", "failed_share", "cancelled_share",
        "deliveries", "then_courier", "then_courier_share",
    ]  # fmt: skip
    assert rows == [
        # att_3 ok, att_6 ok, att_8 failed: 2/3, 1/3, 0 of the 3 ended; dlv_2, 5, 6.
        ("courier", 3, 2, 1, 0, 0, approx(2 / 3), approx(1 / 3), 0.0, 3, 0, 0.0),
        # att_1, 4 ok; att_2, 7 failed; att_5 cancelled; att_9 under way: of 5 ended,
        # 2/5, 2/5, 1/5. Robots tried dlv_1, 2, 3, 4, 6, 8; a courier came after on dlv_2
        # and dlv_6: 2/6.
        ("robot", 6, 2, 2, 1, 1, approx(2 / 5), approx(2 / 5), approx(1 / 5), 6, 2, approx(2 / 6)),
    ]
    _, day_2 = run_pattern(world, "provider_success_and_fallback", ONLY_DAY_2)
    assert day_2 == [
        ("courier", 2, 1, 1, 0, 0, approx(1 / 2), approx(1 / 2), 0.0, 2, 0, 0.0),  # att_6, 8
        # att_7 failed, att_9 under way: nothing but a failure ended; dlv_6 then a courier.
        ("robot", 2, 0, 1, 0, 1, 0.0, 1.0, 0.0, 2, 1, approx(1 / 2)),
    ]


def test_attempts_per_delivery(world: Warehouse) -> None:
    columns, rows = run_pattern(world, "attempts_per_delivery", {})
    assert columns == ["attempts", "deliveries", "delivered", "share"]
    assert rows == [
        (0, 1, 0, approx(1 / 8)),  # dlv_7
        (1, 5, 3, approx(5 / 8)),  # dlv_1, 3, 4, 5, 8; delivered: 1, 3, 5
        (2, 2, 1, approx(2 / 8)),  # dlv_2 (delivered), dlv_6
    ]


def test_delivery_time_percentiles(world: Warehouse) -> None:
    columns, per_day = run_pattern(world, "delivery_time_percentiles", {})
    assert columns == [
        "period_start", "delivered", "mean_minutes", "p50_minutes", "p90_minutes", "p99_minutes",
    ]  # fmt: skip
    # Day 1: 30, 60 and 45 minutes; sorted 30, 45, 60. p90 sits at rank (3-1)*0.9 = 1.8:
    # 45 + 0.8*(60-45) = 57; p99 at 1.98: 45 + 0.98*15 = 59.7. Day 2: dlv_5 alone, 40.
    assert per_day == [
        (DAY_1, 3, approx(45.0), approx(45.0), approx(57.0), approx(59.7)),
        (DAY_2, 1, approx(40.0), approx(40.0), approx(40.0), approx(40.0)),
    ]
    # All: 30, 40, 45, 60; mean 175/4 = 43.75; p50 at rank 1.5: (40+45)/2 = 42.5;
    # p90 at 2.7: 45 + 0.7*15 = 55.5; p99 at 2.97: 45 + 0.97*15 = 59.55.
    overall = (4, approx(43.75), approx(42.5), approx(55.5), approx(59.55))
    _, rows = run_pattern(world, "delivery_time_percentiles", {"period": "all"})
    assert rows == [(None, *overall)]
    _, weeks = run_pattern(world, "delivery_time_percentiles", {"period": "week"})
    assert weeks == [(DAY_1, *overall)]  # both days in the week of Monday 06-01


@pytest.mark.parametrize(
    ("grace", "first_day"),
    [
        # Minutes late on day 1: dlv_1 -5, dlv_2 +10, dlv_3 +5 (exactly the default grace).
        ("5", (DAY_1, 3, 2, approx(2 / 3))),
        ("0", (DAY_1, 3, 1, approx(1 / 3))),
        ("10", (DAY_1, 3, 3, 1.0)),
    ],
)
def test_on_time_rate(world: Warehouse, grace: str, first_day: tuple[object, ...]) -> None:
    columns, rows = run_pattern(world, "on_time_rate", {"grace_minutes": grace})
    assert columns == ["day", "delivered", "on_time", "on_time_share"]
    assert rows == [first_day, (DAY_2, 1, 1, 1.0)]  # dlv_5 five minutes early


def test_on_time_grace_defaults_to_five_minutes(world: Warehouse) -> None:
    _, rows = run_pattern(world, "on_time_rate", {})
    assert rows[0] == (DAY_1, 3, 2, approx(2 / 3))


def test_robot_utilisation(world: Warehouse) -> None:
    columns, rows = run_pattern(world, "robot_utilisation", {})
    assert columns == ["day", "serial", "in_service_hours", "on_task_hours", "utilisation"]
    assert rows == [
        # 08:00-20:00 in service = 12 h; on a task 10-12 and 14-15 = 3 h.
        (DAY_1, "SW-0001", approx(12.0), approx(3.0), approx(3 / 12)),
        # 09-14 (idle 2, task 2, fault 1) + 16-24 (idle 6, task 2 from 22:00) = 13 h, maintenance
        # 14-16 left out; on a task 11-13 and 22-24 = 4 h.
        (DAY_1, "SW-0002", approx(13.0), approx(4.0), approx(4 / 13)),
        # Its task from 22:00 goes on to 02:00, then idle to 03:00: 3 h, 2 on a task.
        (DAY_2, "SW-0002", approx(3.0), approx(2.0), approx(2 / 3)),
        # Idle 01:00-02:30, then on a task until the history ends at 03:00: 2 h, 0.5 on a task.
        (DAY_2, "SW-0003", approx(2.0), approx(0.5), approx(0.25)),
    ]
    _, day_2 = run_pattern(world, "robot_utilisation", ONLY_DAY_2)
    assert day_2 == rows[2:]


def test_pilot_load(world: Warehouse) -> None:
    columns, rows = run_pattern(world, "pilot_load", {})
    assert columns == [
        "day", "pilot_id", "pilot_name", "assignments",
        "busy_hours", "robot_hours", "mean_robots", "peak_robots",
    ]  # fmt: skip
    assert rows == [
        # Busy 10-13, 14-15 and 23-24: 5 h. Robots: 10-11 one, 11-12 two, 12-13 one, 14-15 one,
        # 23-24 one = 1 + 2 + 1 + 1 + 1 = 6 robot-hours; 6/5 = 1.2 at once on average.
        (DAY_1, "opr_1", "Pat", 4, approx(5.0), approx(6.0), approx(1.2), 2),
        # pas_4 goes on to 01:00.
        (DAY_2, "opr_1", "Pat", 0, approx(1.0), approx(1.0), approx(1.0), 1),
        # Busy 01:00-03:00 = 2 h: one robot 01-02:30 (pas_5 then pas_6, handed over at 02:00),
        # two 02:30-03:00: 1.5 + 2*0.5 = 2.5 robot-hours, 1.25 on average, never three.
        (DAY_2, "opr_2", "Sam", 3, approx(2.0), approx(2.5), approx(1.25), 2),
    ]


def test_revenue_per_account(world: Warehouse) -> None:
    columns, rows = run_pattern(world, "revenue_per_account", {})
    assert columns == [
        "account_id", "account_name", "merchant_id", "currency", "deliveries", "delivered",
        "delivered_fee_cents", "won_opportunities", "won_amount_cents",
    ]  # fmt: skip
    assert rows == [
        # Alpha: dlv_1, 2, 5 all delivered, 500 + 700 + 900 = 2100; won opp_1 + opp_2 =
        # 120000 + 30000 = 150000 (opp_3 was lost).
        ("acc_1", "Alpha Bakery Inc", "mer_a", "USD", 3, 3, 2100, 2, 150_000),
        # Bravo: dlv_3 delivered (600), dlv_4 cancelled, dlv_8 under way; opp_4 still open.
        ("acc_2", "Bravo Books LLC", "mer_b", "USD", 3, 1, 600, 0, 0),
        # A prospect with no merchant: its won opportunity only.
        ("acc_3", "Delta Prospect", None, None, 0, 0, 0, 1, 5_000),
    ]
    _, day_2 = run_pattern(world, "revenue_per_account", ONLY_DAY_2)
    assert day_2 == [
        ("acc_1", "Alpha Bakery Inc", "mer_a", "USD", 1, 1, 900, 0, 0),  # dlv_5
        ("acc_3", "Delta Prospect", None, None, 0, 0, 0, 1, 5_000),  # opp_5 closed that day
        ("acc_2", "Bravo Books LLC", "mer_b", "USD", 1, 0, 0, 0, 0),  # dlv_8
    ]


def test_legacy_and_current_per_month(world: Warehouse) -> None:
    columns, rows = run_pattern(world, "legacy_and_current_per_month", {})
    assert columns == [
        "month", "legacy_deliveries", "current_deliveries", "deliveries", "delivered",
    ]  # fmt: skip
    assert rows == [
        (date(2026, 4, 1), 2, 0, 2, 1),  # old-1 delivered, old-2 not
        (date(2026, 5, 1), 1, 0, 1, 1),  # old-3
        (date(2026, 6, 1), 1, 8, 9, 5),  # old-4 and the 8 current, 1 + 4 delivered
    ]


def test_attempts_of_delivery(world: Warehouse) -> None:
    columns, rows = run_pattern(world, "attempts_of_delivery", {"delivery_id": "dlv_2"})
    assert columns == [
        "sequence", "attempt_id", "provider", "status", "provider_id",
        "requested_at", "ended_at", "failure_reason",
    ]  # fmt: skip
    assert rows == [
        (1, "att_2", "robot", "failed", None, at(1, 11), at(1, 11, 5), "robot_fault"),
        (2, "att_3", "courier", "succeeded", None, at(1, 11, 6), at(1, 12), None),
    ]


# --- the report ----------------------------------------------------------------------------------

SECTIONS = [
    "Deliveries per merchant",
    "Status funnel",
    "Providers and fallback",
    "Delivery times",
    "On time",
    "Robot utilisation",
    "Pilot load",
    "Revenue per CRM account",
    "Legacy and current deliveries",
]
GENERATED = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)


def assert_self_contained(page: str) -> None:
    assert re.findall(r"https?://", page) == []
    lowered = page.lower()
    for banned in ("<script", "<link", "<img", "<iframe", "@import", "url(", "src="):
        assert banned not in lowered, banned


def tile(page: str, label: str) -> str:
    found = re.search(
        rf'<div class="label">{re.escape(label)}</div><div class="value">([^<]*)</div>', page
    )
    assert found is not None, label
    return found.group(1)


def test_the_report_shows_every_section_with_charts_and_the_figures(world: Warehouse) -> None:
    page = render_report(world, generated_at=GENERATED)
    checked = parse(page)
    assert_self_contained(page)
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in page, heading
    assert checked.tags.count("svg") >= len(SECTIONS)
    assert "Generated 2026-06-03 08:00 UTC" in page
    assert tile(page, "Orders") == "8"
    assert tile(page, "Delivered") == "50.0 %"  # 4 of 8
    assert tile(page, "On time") == "75.0 %"  # 2 of 3 on day 1, 1 of 1 on day 2
    assert tile(page, "Delivery p50") == "42.5 min"
    assert tile(page, "Courier fallback") == "33.3 %"  # 2 of the 6 robots tried
    # On a task 3 + 4 + 2 + 0.5 = 9.5 h of 12 + 13 + 3 + 2 = 30 h in service.
    assert tile(page, "Robot utilisation") == "31.7 %"
    assert tile(page, "Pilot peak") == "2"
    assert "<td>Alpha Bakery Inc</td>" in page
    assert '<td class="num">150,000</td>' in page  # won, in cents


def test_the_report_renders_an_empty_warehouse(warehouse: Warehouse) -> None:
    page = render_report(warehouse, generated_at=GENERATED)
    parse(page)
    assert_self_contained(page)
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in page, heading
    assert "no data" in page
    assert tile(page, "Orders") == "0"
    assert tile(page, "Delivered") == "\u2013"
