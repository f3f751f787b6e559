-- name: legacy_and_current_per_month
-- description: Deliveries per UTC month of the order from the legacy system and the current one, in one series, and how many were delivered.
-- param: from_day 1900-01-01 First day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- Counts the same rows as the view deliveries_legacy.all_deliveries, but from its two tables:
-- each side is grouped by month on its own and the two series are added up. The joins of the
-- view are all left ones to a row each at most, which never add or drop a delivery, so none
-- is needed here.
WITH per_source AS (
    SELECT
        CAST(date_trunc('month', created_at) AS DATE) AS month,
        count(*) AS legacy_deliveries,
        0 AS current_deliveries,
        count(delivered_at) AS delivered
    FROM deliveries_legacy.deliveries
    WHERE CAST(created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
    GROUP BY CAST(date_trunc('month', created_at) AS DATE)
    UNION ALL
    SELECT
        CAST(date_trunc('month', d.created_at) AS DATE),
        0,
        count(*),
        count(d.delivered_at)
    FROM deliveries_v3.deliveries AS d
    WHERE CAST(d.created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
    GROUP BY CAST(date_trunc('month', d.created_at) AS DATE)
)
SELECT
    month,
    CAST(sum(legacy_deliveries) AS BIGINT) AS legacy_deliveries,
    CAST(sum(current_deliveries) AS BIGINT) AS current_deliveries,
    CAST(sum(legacy_deliveries + current_deliveries) AS BIGINT) AS deliveries,
    CAST(sum(delivered) AS BIGINT) AS delivered
FROM per_source
GROUP BY month
ORDER BY month
