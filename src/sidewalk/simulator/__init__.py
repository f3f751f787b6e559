"""A seeded, time-accelerated city that drives the real services through the interfaces a
merchant, a robot, a pilot and a courier network use: live for the demo, as fast as the
machine allows for capacity planning. The services never import it."""
