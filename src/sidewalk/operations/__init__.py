"""The operations service: robots, tasks and trips, operators and pilots, and dispatch."""
