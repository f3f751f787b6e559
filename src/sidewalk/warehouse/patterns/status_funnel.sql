-- name: status_funnel
-- description: How many deliveries reached each stage on the way to the customer, and how many left the way by cancel, failure or return.
-- param: from_day 1900-01-01 First day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- A stage counts the deliveries that reached it or any later stage on the way: a courier may
-- hand over without every status in between, and a funnel never widens.
WITH picked AS (
    SELECT *
    FROM deliveries_v3.deliveries
    WHERE CAST(created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
),
stages AS (
    SELECT 1 AS step, 'pending' AS stage, 'way' AS path, count(*) AS deliveries FROM picked
    UNION ALL
    SELECT 2, 'assigned', 'way', count(COALESCE(
        assigned_at, enroute_to_pickup_at, at_pickup_at, enroute_to_dropoff_at, at_dropoff_at,
        delivered_at
    )) FROM picked
    UNION ALL
    SELECT 3, 'enroute_to_pickup', 'way', count(COALESCE(
        enroute_to_pickup_at, at_pickup_at, enroute_to_dropoff_at, at_dropoff_at, delivered_at
    )) FROM picked
    UNION ALL
    SELECT 4, 'at_pickup', 'way', count(COALESCE(
        at_pickup_at, enroute_to_dropoff_at, at_dropoff_at, delivered_at
    )) FROM picked
    UNION ALL
    SELECT 5, 'enroute_to_dropoff', 'way', count(COALESCE(
        enroute_to_dropoff_at, at_dropoff_at, delivered_at
    )) FROM picked
    UNION ALL
    SELECT 6, 'at_dropoff', 'way', count(COALESCE(at_dropoff_at, delivered_at)) FROM picked
    UNION ALL
    SELECT 7, 'delivered', 'way', count(delivered_at) FROM picked
    UNION ALL
    SELECT 8, 'cancelled', 'exit', count(cancelled_at) FROM picked
    UNION ALL
    SELECT 9, 'failed', 'exit', count(failed_at) FROM picked
    UNION ALL
    SELECT 10, 'returning', 'exit', count(COALESCE(returning_at, returned_at)) FROM picked
    UNION ALL
    SELECT 11, 'returned', 'exit', count(returned_at) FROM picked
),
orders AS (
    SELECT count(*) AS n FROM picked
)
SELECT
    s.step,
    s.stage,
    s.path,
    s.deliveries,
    CAST(s.deliveries AS DOUBLE PRECISION) / o.n AS share_of_orders
FROM stages AS s
CROSS JOIN orders AS o
WHERE o.n > 0
ORDER BY s.step
