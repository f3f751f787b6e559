"""What every agent of a simulation shares: the platform it drives, the timetable, the
parameters and the city; each agent draws from a random generator of its own, seeded from
the run's seed and the agent's name, so adding one agent does not change the others' luck."""

import random
from dataclasses import dataclass, field

from sidewalk.bootstrap import Platform
from sidewalk.simulator.agenda import Agenda
from sidewalk.simulator.city import City
from sidewalk.simulator.params import SimParams


@dataclass
class Tally:
    """What the simulation saw from the outside, to check the platform's figures against."""

    quotes: int = 0
    refused: int = 0
    ordered: int = 0
    cancel_asked: int = 0
    cancel_refused: int = 0
    faults: int = 0
    blocked: int = 0
    driven_m: float = 0.0  # by every robot, on the way as it drives (detours included)
    trip_reports: int = 0
    telemetry: int = 0
    rejected_reports: list[str] = field(default_factory=list)


@dataclass
class World:
    platform: Platform
    agenda: Agenda
    params: SimParams
    city: City
    tally: Tally = field(default_factory=Tally)

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.params.seed}:{name}")
