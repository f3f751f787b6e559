"""The providers that carry out attempts other than by robot: the courier interface, its
simulated network, and how their jobs and updates reach the deliveries service."""
