-- name: attempts_per_delivery
-- description: How many deliveries took no attempt, one, two or more, and how many of each were delivered.
-- param: from_day 1900-01-01 First day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day of orders counted (UTC, YYYY-MM-DD, inclusive).
WITH counted AS (
    SELECT d.id, d.status, count(da.attempt_id) AS attempts
    FROM deliveries_v3.deliveries AS d
    LEFT JOIN deliveries_v3.delivery_attempts AS da ON da.delivery_id = d.id
    WHERE CAST(d.created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
    GROUP BY d.id, d.status
)
SELECT
    attempts,
    count(*) AS deliveries,
    count(*) FILTER (WHERE status = 'delivered') AS delivered,
    CAST(count(*) AS DOUBLE PRECISION) / CAST(sum(count(*)) OVER () AS DOUBLE PRECISION)
        AS share
FROM counted
GROUP BY attempts
ORDER BY attempts
