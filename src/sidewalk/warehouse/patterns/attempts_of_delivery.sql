-- name: attempts_of_delivery
-- description: One delivery's attempts in order: provider, status, when each was requested and ended, and why it failed.
-- param: delivery_id "" The delivery whose attempts are listed (its dlv_ id); required.
SELECT
    da.sequence,
    a.id AS attempt_id,
    a.provider,
    a.status,
    a.provider_id,
    a.created_at AS requested_at,
    COALESCE(a.succeeded_at, a.failed_at, a.cancelled_at) AS ended_at,
    a.failure_reason
FROM deliveries_v3.delivery_attempts AS da
JOIN deliveries_v3.attempts AS a ON a.id = da.attempt_id
WHERE da.delivery_id = CAST(:delivery_id AS TEXT)
ORDER BY da.sequence
