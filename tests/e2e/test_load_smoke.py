"""The load benchmark in its short form (`bench/load.py --quick`): the merchant flow, by one
and by four merchants at once against `sidewalk serve all`, completes without one error."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_the_merchant_flow_holds_under_a_short_load() -> None:
    done = subprocess.run(
        [sys.executable, "bench/load.py", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(runs) == ["embedded"]
    levels = runs["embedded"]
    assert [level["concurrency"] for level in levels] == [1, 4]
    for level in levels:
        assert level["errors"] == 0, level["error_kinds"]
        assert level["flows_s"] > 0
        assert level["bare_requests_s"] > 0
