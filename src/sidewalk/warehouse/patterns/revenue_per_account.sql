-- name: revenue_per_account
-- description: Per CRM account: its merchant's deliveries, the fees of those delivered (integer cents, in the merchant's currency) and its won opportunities (integer cents).
-- param: from_day 1900-01-01 First day counted: of orders, and of opportunities' close dates (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day counted, as from_day (UTC, YYYY-MM-DD, inclusive).
-- An account is linked to its merchant by merchant_id; one without a merchant shows its
-- opportunities only. Deliveries and opportunities are summed apart, then joined, so that
-- neither is counted once per row of the other.
WITH orders AS (
    SELECT
        d.merchant_id,
        count(*) AS deliveries,
        count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
        CAST(COALESCE(sum(q.fee_cents) FILTER (WHERE d.status = 'delivered'), 0) AS BIGINT)
            AS fee_cents
    FROM deliveries_v3.deliveries AS d
    JOIN deliveries_v3.quotes AS q ON q.id = d.quote_id
    WHERE CAST(d.created_at AS DATE) BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
    GROUP BY d.merchant_id
),
won AS (
    SELECT
        account_id,
        count(*) AS opportunities,
        CAST(COALESCE(sum(amount_cents), 0) AS BIGINT) AS amount_cents
    FROM crm.opportunities
    WHERE is_won
        AND close_date BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
    GROUP BY account_id
)
SELECT
    a.id AS account_id,
    a.name AS account_name,
    a.merchant_id,
    m.currency,
    COALESCE(o.deliveries, 0) AS deliveries,
    COALESCE(o.delivered, 0) AS delivered,
    COALESCE(o.fee_cents, 0) AS delivered_fee_cents,
    COALESCE(w.opportunities, 0) AS won_opportunities,
    COALESCE(w.amount_cents, 0) AS won_amount_cents
FROM crm.accounts AS a
LEFT JOIN orders AS o ON o.merchant_id = a.merchant_id
LEFT JOIN won AS w ON w.account_id = a.id
LEFT JOIN config.merchants AS m ON m.id = a.merchant_id
ORDER BY delivered_fee_cents DESC, won_amount_cents DESC, account_name, account_id
