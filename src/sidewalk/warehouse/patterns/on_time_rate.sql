-- name: on_time_rate
-- description: Per UTC day of the order, delivered deliveries handed over by the quoted drop-off time plus a grace, and their share.
-- param: grace_minutes 5 Minutes after the quoted drop-off time that still count as on time.
-- param: from_day 1900-01-01 First day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day of orders counted (UTC, YYYY-MM-DD, inclusive).
WITH delivered AS (
    SELECT
        CAST(d.created_at AS DATE) AS day,
        CAST(extract(epoch FROM d.delivered_at - q.dropoff_eta) AS DOUBLE PRECISION) / 60
            AS minutes_late
    FROM deliveries_v3.deliveries AS d
    JOIN deliveries_v3.quotes AS q ON q.id = d.quote_id
    WHERE d.delivered_at IS NOT NULL
        AND CAST(d.created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
)
SELECT
    day,
    count(*) AS delivered,
    count(*) FILTER (WHERE minutes_late <= CAST(:grace_minutes AS DOUBLE PRECISION)) AS on_time,
    CAST(count(*) FILTER (
        WHERE minutes_late <= CAST(:grace_minutes AS DOUBLE PRECISION)
    ) AS DOUBLE PRECISION) / count(*) AS on_time_share
FROM delivered
GROUP BY day
ORDER BY day
