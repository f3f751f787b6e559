-- name: robot_utilisation
-- description: Per robot per UTC day, from the state history: hours in service (any state but offline or maintenance), hours on a task, and their ratio.
-- param: from_day 1900-01-01 First day counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day counted (UTC, YYYY-MM-DD, inclusive).
-- A state lasts until the next change of the same robot; the last state of each robot lasts
-- until the latest change recorded for any robot, the moment the history is known up to.
-- Spans are cut at midnight so that each day holds its own hours.
WITH RECURSIVE
changes AS (
    SELECT
        serial,
        state,
        "date" AS began,
        LEAD("date") OVER (PARTITION BY serial ORDER BY "date") AS ended
    FROM deliveries_v3.state_history
),
known_until AS (
    SELECT max("date") AS at FROM deliveries_v3.state_history
),
spans AS (
    SELECT c.serial, c.state, c.began, COALESCE(c.ended, k.at) AS ended
    FROM changes AS c
    CROSS JOIN known_until AS k
    WHERE c.state NOT IN ('offline', 'maintenance')
),
-- A span is cut at each midnight, one piece per UTC day it touches: the piece of its first
-- day begins with the span, each later one at midnight. Most spans end on the day they
-- began, so the recursion only goes on for the few that run past midnight (joining every
-- span with every day is what made this slow).
cuts (serial, state, began, ended, day, next_midnight) AS (
    SELECT serial, state, began, ended, day, CAST(day + 1 AS TIMESTAMPTZ)
    FROM (SELECT serial, state, began, ended, CAST(began AS DATE) AS day FROM spans) AS s
    UNION ALL
    SELECT
        serial,
        state,
        next_midnight,
        ended,
        CAST(day + 1 AS DATE),
        CAST(CAST(day + 1 AS DATE) + 1 AS TIMESTAMPTZ)
    FROM cuts
    WHERE ended > next_midnight
),
pieces AS (
    SELECT
        serial,
        day,
        state,
        CAST(extract(epoch FROM least(ended, next_midnight) - began) AS DOUBLE PRECISION)
            AS seconds
    FROM cuts
)
SELECT
    day,
    serial,
    sum(seconds) / 3600 AS in_service_hours,
    COALESCE(sum(seconds) FILTER (WHERE state = 'on_task'), 0) / 3600 AS on_task_hours,
    COALESCE(sum(seconds) FILTER (WHERE state = 'on_task'), 0) / sum(seconds) AS utilisation
FROM pieces
WHERE day BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
GROUP BY day, serial
HAVING sum(seconds) > 0
ORDER BY day, serial
