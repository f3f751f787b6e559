"""The plan's grid as the command line writes it, and the confidence it reports."""

import pytest

from sidewalk.simulator.plan import Span
from sidewalk.simulator.results import PlanCell


@pytest.mark.parametrize(
    ("text", "values"),
    [("10:100:10", list(range(10, 101, 10))), ("4", [4]), ("2:5", [2, 3, 4, 5]), ("3:8:4", [3, 7])],
)
def test_a_span_includes_both_ends(text: str, values: list[int]) -> None:
    assert Span.parse(text).values() == values


@pytest.mark.parametrize("text", ["0:10:2", "10:5:1", "1:5:0", "a:b", "1:2:3:4", ""])
def test_a_bad_span_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="want start:stop:step"):
        Span.parse(text)


def test_the_low_bound_widens_with_the_spread_of_the_seeds() -> None:
    steady = PlanCell(robots=10, pilots=2, on_time=[0.9, 0.9, 0.9], delivered=[1, 1, 1])
    shaky = PlanCell(robots=10, pilots=2, on_time=[0.8, 0.9, 1.0], delivered=[1, 1, 1])
    assert steady.low_on_time == pytest.approx(0.9)
    assert shaky.mean_on_time == pytest.approx(0.9)
    assert shaky.low_on_time < 0.9
    assert PlanCell(robots=1, pilots=1, on_time=[0.7], delivered=[1]).low_on_time == 0.7
