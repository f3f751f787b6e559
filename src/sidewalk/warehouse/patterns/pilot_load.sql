-- name: pilot_load
-- description: Per pilot per UTC day: assignments begun, hours supervising at least one robot, robot-hours supervised, and the mean and peak number of robots at once.
-- param: from_day 1900-01-01 First day counted (UTC, YYYY-MM-DD, inclusive).
-- param: to_day 9999-12-31 Last day counted (UTC, YYYY-MM-DD, inclusive).
-- Each assignment adds a robot to its pilot at assigned_at and takes it away at released_at
-- (an open one at the latest time recorded in the assignments); between two such steps the
-- pilot supervises a constant number of robots. A release and an assignment at the same
-- moment never count as two robots at once. Times are taken as seconds since 1970-01-01 UTC
-- and days as their number since then (day n runs from n * 86400 to (n + 1) * 86400): plain
-- arithmetic, several times faster than calendar functions on millions of rows; only the days
-- of the answer are turned back into dates.
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
        CAST(extract(epoch FROM moment) AS DOUBLE PRECISION) AS began,
        CAST(
            extract(epoch FROM LEAD(moment) OVER (PARTITION BY pilot_id ORDER BY moment, delta, id))
            AS DOUBLE PRECISION
        ) AS ended,
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
-- One piece per UTC day a span touches: the piece of its first day begins with the span,
-- each later one at midnight. Most spans end on the day they began, so the recursion only
-- goes on for the few that run past midnight.
cuts (pilot_id, robots, began, ended, day) AS (
    SELECT pilot_id, robots, began, ended, CAST(floor(began / 86400) AS BIGINT) FROM spans
    UNION ALL
    SELECT pilot_id, robots, CAST((day + 1) * 86400 AS DOUBLE PRECISION), ended, day + 1
    FROM cuts
    WHERE ended > (day + 1) * 86400
),
busy AS (
    SELECT
        pilot_id,
        day,
        sum(least(ended, (day + 1) * 86400) - began) / 3600 AS busy_hours,
        sum((least(ended, (day + 1) * 86400) - began) * robots) / 3600 AS robot_hours,
        max(robots) AS peak_robots
    FROM cuts
    GROUP BY pilot_id, day
),
begun AS (
    SELECT
        pilot_id,
        CAST(floor(extract(epoch FROM assigned_at) / 86400) AS BIGINT) AS day,
        count(*) AS assignments
    FROM deliveries_v3.pilot_assignments
    GROUP BY pilot_id, CAST(floor(extract(epoch FROM assigned_at) / 86400) AS BIGINT)
),
pilot_days AS (
    SELECT pilot_id, day FROM busy
    UNION
    SELECT pilot_id, day FROM begun
)
SELECT
    CAST(DATE '1970-01-01' + CAST(pd.day AS INTEGER) AS DATE) AS day,
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
WHERE pd.day BETWEEN CAST(:from_day AS DATE) - DATE '1970-01-01'
    AND CAST(:to_day AS DATE) - DATE '1970-01-01'
ORDER BY pd.day, pd.pilot_id
