-- name: robot_utilisation
-- description: Per robot per UTC day, from the state history: hours in service (any state but offline or maintenance), hours on a task, and their ratio.
-- param: from_day 1900-01-01 First day counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day counted (UTC, YYYY-MM-DD, inclusive).
-- A state lasts until the next change of the same robot; the last state of each robot lasts
-- until the latest change recorded for any robot, the moment the history is known up to.
-- Spans are cut at midnight so that each day holds its own hours. Times are taken as seconds
-- since 1970-01-01 UTC and days as their number since then (day n runs from n * 86400 to
-- (n + 1) * 86400): plain arithmetic, several times faster than calendar functions on
-- millions of rows; only the days of the answer are turned back into dates.
WITH RECURSIVE
changes AS (
    SELECT
        serial,
        state,
        CAST(extract(epoch FROM "date") AS DOUBLE PRECISION) AS began,
        CAST(
            extract(epoch FROM LEAD("date") OVER (PARTITION BY serial ORDER BY "date"))
            AS DOUBLE PRECISION
        ) AS ended
    FROM deliveries_v3.state_history
),
known_until AS (
    SELECT CAST(extract(epoch FROM max("date")) AS DOUBLE PRECISION) AS at
    FROM deliveries_v3.state_history
),
spans AS (
    SELECT c.serial, c.state, c.began, COALESCE(c.ended, k.at) AS ended
    FROM changes AS c
    CROSS JOIN known_until AS k
    WHERE c.state NOT IN ('offline', 'maintenance')
),
-- One piece per UTC day a span touches: the piece of its first day begins with the span,
-- each later one at midnight. Most spans end on the day they began, so the recursion only
-- goes on for the few that run past midnight.
cuts (serial, state, began, ended, day) AS (
    SELECT serial, state, began, ended, CAST(floor(began / 86400) AS BIGINT) FROM spans
    UNION ALL
    SELECT serial, state, CAST((day + 1) * 86400 AS DOUBLE PRECISION), ended, day + 1
    FROM cuts
    WHERE ended > (day + 1) * 86400
),
per_day AS (
    SELECT
        day,
        serial,
        sum(least(ended, (day + 1) * 86400) - began) AS seconds,
        COALESCE(sum(least(ended, (day + 1) * 86400) - began) FILTER (WHERE state = 'on_task'), 0)
            AS on_task_seconds
    FROM cuts
    WHERE day BETWEEN CAST(:from_day AS DATE) - DATE '1970-01-01'
        AND CAST(:to_day AS DATE) - DATE '1970-01-01'
    GROUP BY day, serial
)
SELECT
    CAST(DATE '1970-01-01' + CAST(day AS INTEGER) AS DATE) AS day,
    serial,
    seconds / 3600 AS in_service_hours,
    on_task_seconds / 3600 AS on_task_hours,
    on_task_seconds / seconds AS utilisation
FROM per_day
WHERE seconds > 0
ORDER BY day, serial
