"""Capacity planning: run the simulator over a grid of fleet mixes (robots by pilots per
shift), several seeds each, and find the smallest mix whose mean on-time share meets the
target. Runs go to a pool of processes, one per core. A row of robots stops growing once two
sizes in a row meet the target: more robots than that only help."""

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from sidewalk.simulator.city import City, load_city
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.results import PlanCell, PlanResult


@dataclass(frozen=True)
class Span:
    """`start:stop:step`, both ends included, as the command line writes it."""

    start: int
    stop: int
    step: int

    @classmethod
    def parse(cls, text: str) -> "Span":
        wanted = f"{text!r}: want start:stop:step with 1 <= start <= stop and step >= 1"
        try:
            parts = [int(p) for p in text.split(":")]
        except ValueError as e:
            raise ValueError(wanted) from e
        if len(parts) == 1:
            parts = [parts[0], parts[0], 1]
        if len(parts) == 2:
            parts.append(1)
        if len(parts) != 3:
            raise ValueError(wanted)
        start, stop, step = parts
        if start < 1 or stop < start or step < 1:
            raise ValueError(wanted)
        return cls(start, stop, step)

    def values(self) -> list[int]:
        return list(range(self.start, self.stop + 1, self.step))


def _one(params: SimParams, city_path: Path | None) -> tuple[int, int, int, float, float]:
    from sidewalk.simulator.run import simulate  # in the worker process

    result = simulate(params, load_city(city_path))
    k = result.kpis
    return params.robots, params.pilots, params.seed, k.on_time_pct, k.delivered_pct


def plan(
    base: SimParams,
    robots: Span,
    pilots: Span,
    seeds: int,
    target: float,
    *,
    city_path: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PlanResult:
    """Sweep the grid; `progress(done, planned)` after each run."""
    city: City = load_city(city_path)
    results: dict[tuple[int, int], dict[int, tuple[float, float]]] = {}
    met: dict[int, int] = {}  # pilots → how many robot sizes in a row met the target
    planned = len(robots.values()) * len(pilots.values()) * seeds
    done = 0
    workers = workers or max(1, min(os.cpu_count() or 1, 4))
    with ProcessPoolExecutor(workers) as pool:
        for r in robots.values():
            row = [p for p in pilots.values() if met.get(p, 0) < 2]
            if not row:
                break
            futures = [
                pool.submit(_one, base.with_(robots=r, pilots=p, seed=base.seed + s), city_path)
                for p in row
                for s in range(seeds)
            ]
            for future in as_completed(futures):
                rr, pp, seed, on_time, delivered = future.result()
                results.setdefault((rr, pp), {})[seed] = (on_time, delivered)
                done += 1
                if progress is not None:
                    progress(done, planned)
            for p in row:
                runs = results[(r, p)]
                mean = sum(v[0] for v in runs.values()) / len(runs)
                met[p] = met.get(p, 0) + 1 if mean >= target else 0
    cells = [
        PlanCell(
            robots=rr,
            pilots=pp,
            on_time=[runs[s][0] for s in sorted(runs)],
            delivered=[runs[s][1] for s in sorted(runs)],
        )
        for (rr, pp), runs in sorted(results.items())
    ]
    meeting = [c for c in cells if c.mean_on_time >= target]
    # Smallest: fewest robots, then fewest pilots (robots cost more than a pilot's shift).
    best = min(meeting, key=lambda c: (c.robots, c.pilots)) if meeting else None
    return PlanResult(
        city=city.name,
        orders_per_hour=base.orders_per_hour,
        hours=base.hours,
        target_on_time=target,
        seeds=seeds,
        cells=cells,
        best=best,
    )
