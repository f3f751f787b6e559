"""A large history for the warehouse benchmark, written straight into the two services' SQLite
files (migrated by the services' own migrations) by SQL that makes the rows itself: a million
deliveries is some ten million rows, which Python objects would take minutes to make.

Every delivery has its quote, two places, a robot attempt with its task, two trips, two state
history rows and a pilot assignment; one in ten falls back to a courier after its robot
failed, one in twenty is cancelled. Deliveries arrive every 5 seconds; each of 500 robots
takes every 500th, so no robot is ever on two tasks. Fates and times come from a hash of the
delivery's number, so the same size always gives the same rows."""

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sidewalk import migrations
from sidewalk.kernel.db import make_engine

START = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())
MERCHANTS, ROBOTS, PILOTS = 100, 500, 50


def make_history(folder: Path, deliveries: int) -> tuple[str, str]:
    """Both services' databases in `folder` with `deliveries` deliveries; their URLs."""
    urls = []
    for service in ("deliveries", "operations"):
        path = folder / f"{service}.db"
        engine = make_engine(f"sqlite:///{path}")
        migrations.upgrade(service, engine)
        engine.dispose()
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            for statement in DELIVERIES_SQL if service == "deliveries" else OPERATIONS_SQL:
                db.execute(_expand(statement, deliveries))
        urls.append(f"sqlite:///{path}")
    return urls[0], urls[1]


def _expand(statement: str, deliveries: int) -> str:
    return (
        statement.replace("{N}", str(deliveries - 1))
        .replace("{START}", str(START))
        .replace("{MERCHANTS}", str(MERCHANTS))
        .replace("{ROBOTS}", str(ROBOTS))
        .replace("{PILOTS}", str(PILOTS))
    )


# The numbers 0..N, each delivery's hash `h` (0..99, its fate), a spread `s` (0..589 seconds)
# and its creation time `t`.
NUMBERED = """WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {N}),
d AS (SELECT i, (i * 2654435761) % 100 AS h, (i * 40503) % 590 AS s, {START} + i * 5 AS t FROM n)
"""


def ts(seconds: str) -> str:
    """SQL for a time as the services store it on SQLite (UTC text with microseconds)."""
    return f"(strftime('%Y-%m-%d %H:%M:%S', {seconds}, 'unixepoch') || '.000000')"


def iso(seconds: str) -> str:
    """SQL for a time as `status_times` holds it (ISO 8601 with its offset)."""
    return f"(strftime('%Y-%m-%dT%H:%M:%S', {seconds}, 'unixepoch') || '+00:00')"


ROBOT_OK, COURIER_AFTER, CANCELLED = "d.h < 85", "d.h BETWEEN 85 AND 94", "d.h >= 95"
END = "(d.t + 1900 + d.s)"  # when a delivered robot delivery ends
FAIL_AT = "(d.t + 300)"  # when a robot gives up before the pickup
DELIVERY_STATUS = (
    f"CASE WHEN {CANCELLED} THEN 'cancelled' ELSE 'delivered' END"  # couriers deliver too
)
ROBOT_TIMES = (
    f"json_object('pending', {iso('d.t')}, 'assigned', {iso('d.t + 60')}, "
    f"'enroute_to_pickup', {iso('d.t + 60')}, 'at_pickup', {iso('d.t + 600')}, "
    f"'enroute_to_dropoff', {iso('d.t + 720')}, 'at_dropoff', {iso(END + ' - 100')}, "
    f"'delivered', {iso(END)})"
)
COURIER_TIMES = (
    f"json_object('pending', {iso(FAIL_AT)}, 'assigned', {iso('d.t + 420')}, "
    f"'enroute_to_pickup', {iso('d.t + 420')}, 'at_pickup', {iso('d.t + 1200')}, "
    f"'enroute_to_dropoff', {iso('d.t + 1300')}, 'at_dropoff', {iso(END + ' + 500')}, "
    f"'delivered', {iso(END + ' + 600')})"
)
CANCELLED_TIMES = f"json_object('pending', {iso('d.t')}, 'cancelled', {iso('d.t + 120')})"
DELIVERY_END = (
    f"CASE WHEN {CANCELLED} THEN d.t + 120 WHEN {COURIER_AFTER} THEN {END} + 600 ELSE {END} END"
)

# When a robot's part ends (its attempt and task), and when its trip to the pickup does.
TASK_END = f"CASE WHEN {ROBOT_OK} THEN {END} WHEN {COURIER_AFTER} THEN {FAIL_AT} ELSE d.t + 120 END"
PICKUP_END = (
    f"CASE WHEN {ROBOT_OK} THEN d.t + 600 WHEN {COURIER_AFTER} THEN {FAIL_AT} ELSE d.t + 120 END"
)

DELIVERIES_SQL = [
    f"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {{MERCHANTS}} - 1)
    INSERT INTO merchants (id, name, partner_id, currency, base_fee_cents, fee_per_km_cents,
        courier_base_fee_cents, courier_fee_per_km_cents, max_robot_distance_m,
        courier_fallback, quote_lifetime_s, created_at, updated_at)
    SELECT printf('mer_%04d', i), printf('Merchant %d', i), NULL, 'USD', 399, 100, 799, 150,
        3000, 1, 300, {ts("{START} - 86400")}, {ts("{START} - 86400")} FROM n""",
    NUMBERED
    + f"""INSERT INTO locations (id, lat, lng, full_address, created_at)
    SELECT printf('loc_p%08d', i), 34.08 + h * 0.0001, -118.37 + s * 0.00001,
        printf('%d Sunset Blvd', 8000 + h), {ts("t - 30")} FROM d
    UNION ALL
    SELECT printf('loc_d%08d', i), 34.09 - s * 0.00001, -118.36 + h * 0.0001,
        printf('%d Fountain Ave', 7000 + s), {ts("t - 30")} FROM d""",
    NUMBERED
    + f"""INSERT INTO quotes (id, external_reference_id, merchant_id, pickup_location_id,
        dropoff_location_id, provider, fee_cents, currency, distance_m, service_area_id,
        order_value_cents, pickup_eta, dropoff_eta, expires_at, used_by_delivery_id, created_at)
    SELECT printf('quo_%08d', i), NULL, printf('mer_%04d', i % {{MERCHANTS}}),
        printf('loc_p%08d', i), printf('loc_d%08d', i), 'robot', 399 + h * 3, 'USD',
        500 + s * 3, 'weho', 1500 + s * 10, {ts("t + 600")}, {ts("t + 2100")},
        {ts("t + 270")}, printf('dlv_%08d', i), {ts("t - 30")} FROM d""",
    NUMBERED
    + f"""INSERT INTO attempts (id, provider, status, provider_id, status_times,
        failure_reason, created_at, updated_at)
    SELECT printf('att_r%08d', i), 'robot',
        CASE WHEN {ROBOT_OK} THEN 'succeeded' WHEN {COURIER_AFTER} THEN 'failed'
             ELSE 'cancelled' END,
        printf('tsk_%08d', i),
        CASE WHEN {ROBOT_OK} THEN json_object('requested', {iso("t")}, 'assigned',
                 {iso("t + 60")}, 'in_progress', {iso("t + 60")}, 'succeeded', {iso(END)})
             WHEN {COURIER_AFTER} THEN json_object('requested', {iso("t")}, 'assigned',
                 {iso("t + 60")}, 'failed', {iso(FAIL_AT)})
             ELSE json_object('requested', {iso("t")}, 'cancelled', {iso("t + 120")}) END,
        CASE WHEN {COURIER_AFTER} THEN 'robot_fault' END, {ts("t")},
        {ts(TASK_END)}
    FROM d
    UNION ALL
    SELECT printf('att_c%08d', i), 'courier', 'succeeded', printf('csj_%08d', i),
        json_object('requested', {iso(FAIL_AT)}, 'assigned', {iso("t + 420")},
            'in_progress', {iso("t + 1200")}, 'succeeded', {iso(END + " + 600")}),
        NULL, {ts(FAIL_AT)}, {ts(END + " + 600")}
    FROM d WHERE {COURIER_AFTER}""",
    NUMBERED
    + f"""INSERT INTO delivery_attempts (delivery_id, attempt_id, sequence)
    SELECT printf('dlv_%08d', i), printf('att_r%08d', i), 1 FROM d
    UNION ALL
    SELECT printf('dlv_%08d', i), printf('att_c%08d', i), 2 FROM d WHERE {COURIER_AFTER}""",
    NUMBERED
    + f"""INSERT INTO deliveries (id, quote_id, latest_attempt_id, partner_id, status,
        merchant_id, external_reference_id, status_times, customer_name, customer_phone,
        dropoff_instructions, tracking_token, cancel_reason, failure_reason, courier_lat,
        courier_lng, courier_seen_at, created_at, updated_at)
    SELECT printf('dlv_%08d', i), printf('quo_%08d', i),
        CASE WHEN {COURIER_AFTER} THEN printf('att_c%08d', i) ELSE printf('att_r%08d', i) END,
        NULL, {DELIVERY_STATUS}, printf('mer_%04d', i % {{MERCHANTS}}), printf('order-%d', i),
        CASE WHEN {CANCELLED} THEN {CANCELLED_TIMES} WHEN {COURIER_AFTER} THEN {COURIER_TIMES}
             ELSE {ROBOT_TIMES} END,
        NULL, NULL, NULL, printf('trk_%08d', i),
        CASE WHEN {CANCELLED} THEN 'customer_changed_mind' END, NULL, NULL, NULL, NULL,
        {ts("t")}, {ts(DELIVERY_END)}
    FROM d""",
]

TASK_STATUS = (
    f"CASE WHEN {ROBOT_OK} THEN 'completed' WHEN {COURIER_AFTER} THEN 'failed' ELSE 'cancelled' END"
)

OPERATIONS_SQL = [
    f"""INSERT INTO hubs (id, name, lat, lng, area_id, created_at)
    VALUES ('hub_1', 'Sunset hub', 34.09, -118.37, 'weho', {ts("{START} - 86400")})""",
    f"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {{ROBOTS}} - 1)
    INSERT INTO robots (serial, display_name, hub_id, state, lat, lng, battery_pct, area_id,
        speed_mps, battery_low_pct, battery_reserve_pct, drain_pct_per_km, token_digest,
        last_seen_at, reading_at, state_changed_at, created_at, updated_at)
    SELECT printf('rbt_%04d', i), printf('Robot %d', i), 'hub_1', 'idle', 34.09, -118.37, 90,
        'weho', 1.6, 20, 10, 2.5, printf('%064d', i), NULL, NULL,
        {ts("{START} - 86400")}, {ts("{START} - 86400")}, {ts("{START} - 86400")} FROM n""",
    f"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {{PILOTS}} - 1)
    INSERT INTO operators (id, email, display_name, role, status, token_digest, created_at,
        updated_at)
    SELECT printf('opr_%04d', i), printf('pilot%d@example.com', i), printf('Pilot %d', i),
        'pilot', 'available', printf('%063dp', i), {ts("{START} - 86400")},
        {ts("{START} - 86400")} FROM n""",
    NUMBERED
    + f"""INSERT INTO tasks (id, type, status, robot_serial, delivery_id, attempt_id, area_id,
        hub_id, start_lat, start_lng, end_lat, end_lng, failure_reason, return_of_task_id,
        status_times, created_at, updated_at)
    SELECT printf('tsk_%08d', i), 'delivery', {TASK_STATUS},
        printf('rbt_%04d', i % {{ROBOTS}}), printf('dlv_%08d', i), printf('att_r%08d', i),
        'weho', NULL, 34.08, -118.37, 34.09, -118.36,
        CASE WHEN {COURIER_AFTER} THEN 'robot_fault' END, NULL,
        CASE WHEN {ROBOT_OK} THEN json_object('pending', {iso("t")}, 'assigned',
                 {iso("t + 60")}, 'in_progress', {iso("t + 60")}, 'completed', {iso(END)})
             WHEN {COURIER_AFTER} THEN json_object('pending', {iso("t")}, 'assigned',
                 {iso("t + 60")}, 'in_progress', {iso("t + 60")}, 'failed', {iso(FAIL_AT)})
             ELSE json_object('pending', {iso("t")}, 'assigned', {iso("t + 60")},
                 'cancelled', {iso("t + 120")}) END,
        {ts("t")}, {ts(TASK_END)}
    FROM d""",
    NUMBERED
    + f"""INSERT INTO trips (id, task_id, sequence, type, status, destination_lat,
        destination_lng, failure_reason, status_times, created_at, updated_at)
    SELECT printf('trp_%08d_1', i), printf('tsk_%08d', i), 1, 'to_pickup',
        CASE WHEN {ROBOT_OK} THEN 'completed' WHEN {COURIER_AFTER} THEN 'failed'
             ELSE 'cancelled' END, 34.08, -118.37,
        CASE WHEN {COURIER_AFTER} THEN 'robot_fault' END,
        json_object('pending', {iso("t")}), {ts("t")},
        {ts(PICKUP_END)}
    FROM d
    UNION ALL
    SELECT printf('trp_%08d_2', i), printf('tsk_%08d', i), 2, 'to_dropoff',
        CASE WHEN {ROBOT_OK} THEN 'completed' ELSE 'cancelled' END, 34.09, -118.36, NULL,
        json_object('pending', {iso("t")}), {ts("t")}, {ts(TASK_END)}
    FROM d""",
    NUMBERED
    + f"""INSERT INTO state_history (serial, date, state, previous_state, task_id, reason)
    SELECT printf('rbt_%04d', i % {{ROBOTS}}), {ts("t + 60")}, 'on_task', 'idle',
        printf('tsk_%08d', i), 'assigned' FROM d
    UNION ALL
    SELECT printf('rbt_%04d', i % {{ROBOTS}}), {ts(TASK_END)}, 'idle', 'on_task',
        printf('tsk_%08d', i), 'task_ended' FROM d""",
    NUMBERED
    + f"""INSERT INTO pilot_assignments (id, pilot_id, task_id, robot_serial, assigned_at,
        released_at, release_reason)
    SELECT printf('pas_%08d', i), printf('opr_%04d', i % {{PILOTS}}), printf('tsk_%08d', i),
        printf('rbt_%04d', i % {{ROBOTS}}), {ts("t + 60")}, {ts(TASK_END)}, 'task_ended'
    FROM d WHERE NOT ({CANCELLED})""",
]
