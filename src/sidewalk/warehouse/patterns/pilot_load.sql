-- name: pilot_load
-- description: Per pilot per UTC day: assignments begun, hours supervising at least one robot, robot-hours supervised, and the mean and peak number of robots at once.
-- param: from_day 1900-01-01 First day counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day counted (UTC, YYYY-MM-DD, inclusive).
-- Each assignment adds a robot to its pilot at assigned_at and takes it away at released_at
-- (an open one at the latest time recorded in the assignments); between two such steps the
-- pilot supervises a constant number of robots. A release and an assignment at the same
-- moment never count as two robots at once.
WITH RECURSIVE
known_until AS (
    SELECT max(moment) AS moment
    FROM (
        SELECT assigned_at AS moment FROM deliveries_v3.pilot_assignments
        UNION ALL
        SELECT released_at FROM deliveries_v3.pilot_assignments
    ) AS times
),
steps AS (
    SELECT pilot_id, id, assigned_at AS moment, 1 AS delta
    FROM deliveries_v3.pilot_assignments
    UNION ALL
    SELECT a.pilot_id, a.id, COALESCE(a.released_at, k.moment), -1
    FROM deliveries_v3.pilot_assignments AS a
    CROSS JOIN known_until AS k
),
supervising AS (
    SELECT
        pilot_id,
        moment AS began,
        LEAD(moment) OVER (PARTITION BY pilot_id ORDER BY moment, delta, id) AS ended,
        sum(delta) OVER (
            PARTITION BY pilot_id ORDER BY moment, delta, id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS robots
    FROM steps
),
spans AS (
    SELECT pilot_id, began, ended, robots
    FROM supervising
    WHERE ended > began AND robots > 0
),
-- A span is cut at each midnight, one piece per UTC day it touches: the piece of its first
-- day begins with the span, each later one at midnight. Most spans end on the day they
-- began, so the recursion only goes on for the few that run past midnight (joining every
-- span with every day is what made this slow).
cuts (pilot_id, robots, began, ended, day, next_midnight) AS (
    SELECT pilot_id, robots, began, ended, day, CAST(day + 1 AS TIMESTAMPTZ)
    FROM (SELECT pilot_id, robots, began, ended, CAST(began AS DATE) AS day FROM spans) AS s
    UNION ALL
    SELECT
        pilot_id,
        robots,
        next_midnight,
        ended,
        CAST(day + 1 AS DATE),
        CAST(CAST(day + 1 AS DATE) + 1 AS TIMESTAMPTZ)
    FROM cuts
    WHERE ended > next_midnight
),
pieces AS (
    SELECT
        pilot_id,
        day,
        robots,
        CAST(extract(epoch FROM least(ended, next_midnight) - began) AS DOUBLE PRECISION)
            AS seconds
    FROM cuts
),
busy AS (
    SELECT
        pilot_id,
        day,
        sum(seconds) / 3600 AS busy_hours,
        sum(seconds * robots) / 3600 AS robot_hours,
        max(robots) AS peak_robots
    FROM pieces
    GROUP BY pilot_id, day
),
begun AS (
    SELECT pilot_id, CAST(assigned_at AS DATE) AS day, count(*) AS assignments
    FROM deliveries_v3.pilot_assignments
    GROUP BY pilot_id, CAST(assigned_at AS DATE)
),
pilot_days AS (
    SELECT pilot_id, day FROM busy
    UNION
    SELECT pilot_id, day FROM begun
)
SELECT
    pd.day,
    pd.pilot_id,
    o.display_name AS pilot_name,
    COALESCE(g.assignments, 0) AS assignments,
    COALESCE(b.busy_hours, 0) AS busy_hours,
    COALESCE(b.robot_hours, 0) AS robot_hours,
    b.robot_hours / b.busy_hours AS mean_robots,
    COALESCE(b.peak_robots, 0) AS peak_robots
FROM pilot_days AS pd
LEFT JOIN busy AS b ON b.pilot_id = pd.pilot_id AND b.day = pd.day
LEFT JOIN begun AS g ON g.pilot_id = pd.pilot_id AND g.day = pd.day
LEFT JOIN config.operators AS o ON o.id = pd.pilot_id
WHERE pd.day BETWEEN CAST(:from_day AS DATE) AND CAST(:to_day AS DATE)
ORDER BY pd.day, pd.pilot_id
