-- name: delivery_time_percentiles
-- description: Minutes from order to hand-over of delivered deliveries (mean, p50, p90, p99) per day, week or month of the order, or overall.
-- param: period day day, week or month (its first day is period_start), or all for one row.
-- param: from_day 1900-01-01 First day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day of orders counted (UTC, YYYY-MM-DD, inclusive).
WITH done AS (
    SELECT
        CASE
            WHEN CAST(:period AS TEXT) = 'all' THEN NULL
            ELSE CAST(date_trunc(CAST(:period AS TEXT), created_at) AS DATE)
        END AS period_start,
        CAST(extract(epoch FROM delivered_at - created_at) AS DOUBLE PRECISION) / 60 AS minutes
    FROM deliveries_v3.deliveries
    WHERE delivered_at IS NOT NULL
        AND CAST(created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
)
SELECT
    period_start,
    count(*) AS delivered,
    avg(minutes) AS mean_minutes,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes) AS p50_minutes,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY minutes) AS p90_minutes,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY minutes) AS p99_minutes
FROM done
GROUP BY period_start
ORDER BY period_start
