"""The query pattern files are well formed, and asking for a pattern or a parameter that does not
exist, or leaving out a required one, is refused before the warehouse is touched."""

import re
from datetime import date
from typing import Any, cast

import pytest

from sidewalk.warehouse.patterns import (
    BadParams,
    PatternError,
    UnknownPattern,
    load_patterns,
    parse_pattern,
    pattern,
    run_pattern,
)
from sidewalk.warehouse.target import Warehouse

MAIN = {
    "deliveries_per_merchant_per_day",
    "status_funnel",
    "provider_success_and_fallback",
    "attempts_per_delivery",
    "delivery_time_percentiles",
    "on_time_rate",
    "robot_utilisation",
    "pilot_load",
    "revenue_per_account",
    "legacy_and_current_per_month",
}
# What one engine speaks and the other does not.
NOT_PORTABLE = re.compile(
    r"::|\b(ilike|strftime|strptime|to_char|epoch_ms|datediff|date_diff|date_part|"
    r"generate_series|interval)\b",
    re.IGNORECASE,
)


class Untouched:
    """A warehouse that fails the test if anything reaches it."""

    dialect = "none"
    url = "none"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the warehouse was used ({name})")


UNTOUCHED = cast(Warehouse, Untouched())


def test_the_main_patterns_are_there() -> None:
    assert {p.name for p in load_patterns()} >= MAIN


@pytest.mark.parametrize("p", load_patterns(), ids=lambda p: p.name)
def test_a_pattern_file_is_well_formed(p: Any) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9_]*", p.name)
    assert p.description
    assert "\n" not in p.description
    assert p.description.endswith(".")
    for name, default in p.params.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert p.param_help[name].strip(), name
        if name.endswith("_day"):
            date.fromisoformat(default)
    assert list(p.params) == list(p.param_help)
    for line in p.sql.splitlines():
        comment = line.partition("--")[2]
        # A quote in a comment would be read as the start of a literal when parameters are
        # found and rewritten.
        assert "'" not in comment, line
    assert not NOT_PORTABLE.search(p.sql), NOT_PORTABLE.search(p.sql)


def test_defaults_fill_what_is_not_given() -> None:
    on_time = pattern("on_time_rate")
    assert on_time.bind({"grace_minutes": "2"}) == {
        "grace_minutes": "2",
        "from_day": "1900-01-01",
        "to_day": "9999-12-31",
    }
    assert on_time.bind({"grace_minutes": ""})["grace_minutes"] == "5"


def test_an_unknown_pattern_is_refused_with_the_names_there_are() -> None:
    with pytest.raises(UnknownPattern) as raised:
        run_pattern(UNTOUCHED, "deliveries_per_planet", {})
    message = str(raised.value)
    assert "deliveries_per_planet" in message
    assert all(name in message for name in MAIN)
    assert isinstance(raised.value, PatternError)
    assert isinstance(raised.value, ValueError)


def test_an_unknown_parameter_is_refused_with_the_parameters_there_are() -> None:
    with pytest.raises(BadParams, match=r"no parameter colour.*from_day, to_day"):
        run_pattern(UNTOUCHED, "status_funnel", {"colour": "red"})


def test_a_missing_required_parameter_is_refused() -> None:
    with pytest.raises(BadParams, match="needs delivery_id"):
        run_pattern(UNTOUCHED, "attempts_of_delivery", {})
    with pytest.raises(BadParams, match="needs delivery_id"):
        run_pattern(UNTOUCHED, "attempts_of_delivery", {"delivery_id": ""})


HEADER = """-- name: sample
-- description: A sample.
-- param: since 2026-01-01 From this day.
-- param: who "" Whose.
"""


def test_a_header_is_read() -> None:
    p = parse_pattern(HEADER + "SELECT :since, :who\n", "sample.sql")
    assert (p.name, p.description) == ("sample", "A sample.")
    assert dict(p.params) == {"since": "2026-01-01", "who": ""}
    assert p.param_help["who"] == "Whose."
    assert p.required == ["who"]
    assert p.sql == "SELECT :since, :who\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (HEADER + "SELECT :since, :who", "name line must say 'other'"),
        (HEADER.replace("-- description: A sample.\n", "") + "SELECT :since, :who", "description"),
        (HEADER.replace("From this day.", "") + "SELECT :since, :who", "NAME DEFAULT"),
        (HEADER + "SELECT :since", "its SQL uses"),
        (HEADER + "SELECT :since, :who, :extra", "its SQL uses"),
        (HEADER + HEADER.splitlines()[2] + "\nSELECT :since, :who", "declared twice"),
    ],
)
def test_a_malformed_pattern_file_is_refused(text: str, problem: str) -> None:
    name = "other.sql" if "'other'" in problem else "sample.sql"
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_pattern(text, name)
