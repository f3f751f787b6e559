"""Planning a fleet: a fast model of a day in a city (`fleet_model`), checked against the full
simulator, and the search for the cheapest fleet that meets an operator's targets."""
