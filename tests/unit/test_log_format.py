"""The servers' log lines: one JSON object each, naming the request they belong to."""

import json
import logging

from sidewalk.kernel.log_format import JsonFormatter, RequestIdFilter, logging_config
from sidewalk.kernel.request_context import current_request_id, working_for


def _line(message: str, *args: object) -> dict[str, object]:
    record = logging.LogRecord("sidewalk.test", logging.WARNING, __file__, 1, message, args, None)
    RequestIdFilter().filter(record)
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_a_line_is_json_with_the_request_it_belongs_to() -> None:
    with working_for("req_abc"):
        line = _line("robot %s is %d %% charged", "SW-1", 40)
    assert line["message"] == "robot SW-1 is 40 % charged"
    assert line["request_id"] == "req_abc"
    assert line["level"] == "warning"
    assert line["logger"] == "sidewalk.test"
    assert str(line["time"]).endswith("Z")
    assert _line("outside any request")["request_id"] is None


def test_the_request_is_forgotten_when_its_work_ends() -> None:
    with working_for("req_1"):
        with working_for("req_2"):
            assert current_request_id() == "req_2"
        assert current_request_id() == "req_1"
    assert current_request_id() is None


def test_the_configuration_sends_uvicorn_lines_through_the_same_format() -> None:
    config = logging_config("json", "info")
    assert config["formatters"]["default"]["()"].endswith("JsonFormatter")
    assert config["loggers"]["uvicorn.access"]["propagate"] is True
    assert "%(request_id)s" in logging_config("text", "info")["formatters"]["default"]["format"]
