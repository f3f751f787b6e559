"""Simulated pilots: each works one of the city's shifts (spread round-robin), sets themself
available at its start and offline at its end, and takes a break now and then, through the
same use case a pilot's dashboard calls."""

import math
from dataclasses import dataclass
from functools import partial

from sidewalk.operations import operators
from sidewalk.operations.domain import OperatorPrincipal, OperatorRole, OperatorStatus
from sidewalk.simulator.city import Shift
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.world import World


@dataclass
class OnShift:
    """When a pilot was available, for the pilot-load figures."""

    start_s: float
    end_s: float | None = None


class PilotAgent:
    def __init__(self, world: World, operator_id: str, shift: Shift, index: int) -> None:
        self.world, self.shift, self.index = world, shift, index
        self.me = OperatorPrincipal(operator_id, OperatorRole.PILOT)
        self.available: list[OnShift] = []
        self.status = OperatorStatus.OFFLINE  # as created

    def start(self) -> None:
        """Plan every shift that overlaps the run (`shift_spans`), or the hours of an hourly
        plan this pilot works (`hourly_spans`)."""
        p = self.world.params
        if p.pilots_by_hour is not None:
            for at_s, until_s in hourly_spans(self.index, p):
                self.world.agenda.at(at_s, partial(self._work, until_s))
            return
        for at_s, until_s in shift_spans(self.shift, p):
            self.world.agenda.at(at_s, partial(self._begin, until_s))

    def _work(self, until_s: float) -> None:
        """A stretch of an hourly plan: no breaks, the plan covers them."""
        self._set(OperatorStatus.AVAILABLE)
        self.world.agenda.at(until_s, lambda: self._set(OperatorStatus.OFFLINE))

    def _set(self, status: OperatorStatus) -> None:
        if status is self.status:
            return
        operators.set_status(self.world.platform.operations, self.me, self.me.id, status)
        self.status = status
        now = self.world.agenda.now_s
        if status is OperatorStatus.AVAILABLE:
            self.available.append(OnShift(now))
        elif self.available and self.available[-1].end_s is None:
            self.available[-1].end_s = now

    def _begin(self, until_s: float) -> None:
        p, agenda = self.world.params, self.world.agenda
        self._set(OperatorStatus.AVAILABLE)
        agenda.at(until_s, lambda: self._set(OperatorStatus.OFFLINE))
        for off, back in breaks(agenda.now_s, until_s, self.index, p):
            agenda.at(off, lambda: self._set(OperatorStatus.BREAK))
            agenda.at(back, lambda: self._set(OperatorStatus.AVAILABLE))


def hourly_spans(index: int, p: SimParams) -> list[tuple[float, float]]:
    """When pilot `index` of an hourly plan (`p.pilots_by_hour`) works during a run, in
    seconds from its start: the hours whose count is above the pilot's index."""
    assert p.pilots_by_hour is not None
    spans: list[list[float]] = []
    first = math.floor(p.start_local_hour)
    for h in range(first, first + math.ceil(p.duration_s / 3600) + 1):
        begin = max(0.0, (h - p.start_local_hour) * 3600)
        end = min(p.duration_s, (h + 1 - p.start_local_hour) * 3600)
        if end <= begin or index >= p.pilots_by_hour[h % 24]:
            continue
        if spans and spans[-1][1] >= begin:
            spans[-1][1] = end
        else:
            spans.append([begin, end])
    return [(a, b) for a, b in spans]


def shift_spans(shift: Shift, p: SimParams) -> list[tuple[float, float]]:
    """When a shift's pilots work during a run, in seconds from its start: every shift that
    overlaps the run, one already under way from the start; shifts that touch or overlap (a
    24-hour shift, day after day) are one stretch of work."""
    start_min = p.start_local_hour * 60
    end_min = start_min + p.duration_s / 60
    spans: list[list[float]] = []
    day = int(start_min // 1440) - 1
    while day * 1440 + shift.start_min < end_min:
        begin, finish = day * 1440 + shift.start_min, day * 1440 + shift.end_min
        if finish > start_min:
            if spans and begin <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], finish)
            else:
                spans.append([begin, finish])
        day += 1
    return [(max(0.0, (first - start_min) * 60), (last - start_min) * 60) for first, last in spans]


def breaks(begin_s: float, until_s: float, index: int, p: SimParams) -> list[tuple[float, float]]:
    """A pilot's breaks in a stretch of work: staggered by pilot, so that the team does not
    leave all at once."""
    found = []
    t = begin_s + p.break_every_s + (index % 4) * p.break_s
    while t + p.break_s < until_s:
        found.append((t, t + p.break_s))
        t += p.break_every_s + p.break_s
    return found
