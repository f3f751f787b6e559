"""sidewalk: a delivery platform for fleets of sidewalk delivery robots."""

__version__ = "0.1.0"
