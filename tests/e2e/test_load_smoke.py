"""The load benchmark in its short form (`bench/load.py --quick`): the merchant flow, by one
and by four merchants at once against `sidewalk serve all`, completes without one error."""

import pytest

from tests.cli import run_bench

pytestmark = pytest.mark.slow


def test_the_merchant_flow_holds_under_a_short_load() -> None:
    done, runs = run_bench("load.py", "--quick", timeout=240)
    assert done.returncode == 0, done.stderr
    assert list(runs) == ["embedded"]
    levels = runs["embedded"]
    assert [level["concurrency"] for level in levels] == [1, 4]
    for level in levels:
        assert level["errors"] == 0, level["error_kinds"]
        assert level["flows_s"] > 0
        assert level["bare_requests_s"] > 0
