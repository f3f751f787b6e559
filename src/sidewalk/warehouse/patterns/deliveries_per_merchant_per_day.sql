-- name: deliveries_per_merchant_per_day
-- description: Deliveries ordered per merchant per UTC day, and how many were delivered, cancelled, failed or returned, or are still open.
-- param: from_day 1900-01-01 First day of orders counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day of orders counted (UTC, YYYY-MM-DD, inclusive).
SELECT
    CAST(d.created_at AS DATE) AS day,
    d.merchant_id,
    m.name AS merchant_name,
    count(*) AS deliveries,
    count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
    count(*) FILTER (WHERE d.status = 'cancelled') AS cancelled,
    count(*) FILTER (WHERE d.status IN ('failed', 'returning', 'returned')) AS failed_or_returned,
    count(*) FILTER (
        WHERE d.status NOT IN ('delivered', 'cancelled', 'failed', 'returning', 'returned')
    ) AS open
FROM deliveries_v3.deliveries AS d
LEFT JOIN config.merchants AS m ON m.id = d.merchant_id
WHERE CAST(d.created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
GROUP BY CAST(d.created_at AS DATE), d.merchant_id, m.name
ORDER BY day, merchant_name, merchant_id
