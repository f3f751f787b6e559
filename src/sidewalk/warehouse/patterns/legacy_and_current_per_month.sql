-- name: legacy_and_current_per_month
-- description: Deliveries per UTC month of the order from the legacy system and the current one, in one series, and how many were delivered.
-- param: from_day 1900-01-01 First day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day of orders counted (UTC, YYYY-MM-DD, inclusive).
SELECT
    CAST(date_trunc('month', created_at) AS DATE) AS month,
    count(*) FILTER (WHERE source = 'legacy') AS legacy_deliveries,
    count(*) FILTER (WHERE source = 'current') AS current_deliveries,
    count(*) AS deliveries,
    count(delivered_at) AS delivered
FROM deliveries_legacy.all_deliveries
WHERE CAST(created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
GROUP BY CAST(date_trunc('month', created_at) AS DATE)
ORDER BY month
