-- name: provider_success_and_fallback
-- description: Attempts per provider and how they ended (shares of the ended ones), and how often a courier had to try after an attempt of that provider.
-- param: from_day 1900-01-01 First day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- For robots, then_courier_share is the fallback rate: of the deliveries a robot tried, the
-- share that a courier tried later. Attempts still under way count in unfinished only.
WITH tries AS (
    SELECT da.delivery_id, da.sequence, a.provider, a.status
    FROM deliveries_v3.delivery_attempts AS da
    JOIN deliveries_v3.deliveries AS d ON d.id = da.delivery_id
    JOIN deliveries_v3.attempts AS a ON a.id = da.attempt_id
    WHERE CAST(d.created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
),
per_provider AS (
    SELECT
        provider,
        count(*) AS attempts,
        count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
        count(*) FILTER (WHERE status = 'failed') AS failed,
        count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
        count(*) FILTER (WHERE status NOT IN ('succeeded', 'failed', 'cancelled')) AS unfinished,
        count(DISTINCT delivery_id) AS deliveries
    FROM tries
    GROUP BY provider
),
-- A courier tried after an attempt when the last courier attempt of the delivery came later.
last_courier AS (
    SELECT delivery_id, max(sequence) AS sequence
    FROM tries
    WHERE provider = 'courier'
    GROUP BY delivery_id
),
then_courier AS (
    SELECT t.provider, count(DISTINCT t.delivery_id) AS deliveries
    FROM tries AS t
    JOIN last_courier AS c ON c.delivery_id = t.delivery_id AND c.sequence > t.sequence
    GROUP BY t.provider
)
SELECT
    p.provider,
    p.attempts,
    p.succeeded,
    p.failed,
    p.cancelled,
    p.unfinished,
    CAST(p.succeeded AS DOUBLE PRECISION) / NULLIF(p.attempts - p.unfinished, 0)
        AS succeeded_share,
    CAST(p.failed AS DOUBLE PRECISION) / NULLIF(p.attempts - p.unfinished, 0) AS failed_share,
    CAST(p.cancelled AS DOUBLE PRECISION) / NULLIF(p.attempts - p.unfinished, 0)
        AS cancelled_share,
    p.deliveries,
    COALESCE(c.deliveries, 0) AS then_courier,
    CAST(COALESCE(c.deliveries, 0) AS DOUBLE PRECISION) / p.deliveries AS then_courier_share
FROM per_provider AS p
LEFT JOIN then_courier AS c ON c.provider = p.provider
ORDER BY p.provider
