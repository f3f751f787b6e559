"""Named query patterns: the SQL files in `patterns/`, one question each, that run unchanged on
DuckDB and PostgreSQL. A file opens with comment lines that name it, describe it in a line and
declare its parameters:

    -- name: on_time_rate
    -- description: Per UTC day of the order, ...
    -- param: grace_minutes 5 Minutes after the quoted drop-off time that still count.
    -- param: delivery_id "" A parameter with `""` as its default must be given.

Parameters are text (the SQL casts them), so one value works from a command line, on either
engine. A pattern is run only once its parameters are checked, on a warehouse whose tables
all exist, so that an empty warehouse answers with no rows rather than an error."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from sidewalk.warehouse.crm import create_crm_tables
from sidewalk.warehouse.legacy import create_legacy_tables
from sidewalk.warehouse.sync import create_mirror_tables
from sidewalk.warehouse.target import Warehouse, param_names

REQUIRED = '""'  # the default written for a parameter that has none
_HEADER = re.compile(r"--\s*(name|description|param):\s*(.*?)\s*$")
_PARAM_LINE = re.compile(r"([A-Za-z_]\w*)\s+(\S+)\s+(\S.*)")


class PatternError(ValueError):
    """A pattern asked for that does not exist, or parameters it does not take."""


class UnknownPattern(PatternError):
    """No pattern has that name; the message lists those there are."""


class BadParams(PatternError):
    """A parameter the pattern does not take, or a required one left out."""


@dataclass(frozen=True)
class Pattern:
    name: str
    description: str
    params: Mapping[str, str]  # name to default, in the order declared; "" must be given
    param_help: Mapping[str, str]  # name to what the parameter means
    sql: str  # the file after its header

    @property
    def required(self) -> list[str]:
        return [name for name, default in self.params.items() if not default]

    def bind(self, given: Mapping[str, str]) -> dict[str, str]:
        """Every parameter's value: the one given, else its default. Refuses a parameter it
        does not take and a required one missing (or given empty)."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            takes = ", ".join(self.params) or "none"
            raise BadParams(
                f"pattern {self.name!r} takes no parameter {', '.join(unknown)} "
                f"(its parameters: {takes})"
            )
        missing = [name for name in self.required if not given.get(name)]
        if missing:
            raise BadParams(f"pattern {self.name!r} needs {', '.join(missing)}")
        return {name: given.get(name) or default for name, default in self.params.items()}

    def run(
        self, warehouse: Warehouse, given: Mapping[str, str]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Columns and rows, on a warehouse whose tables exist (see `ensure_tables`)."""
        return warehouse.query(self.sql, self.bind(given))


def parse_pattern(text: str, file_name: str) -> Pattern:
    """A pattern from its file's text; a malformed header is a ValueError naming the file."""

    def bad(why: str) -> ValueError:
        return ValueError(f"pattern file {file_name}: {why}")

    lines = text.splitlines()
    header: dict[str, str] = {}
    params: dict[str, str] = {}
    param_help: dict[str, str] = {}
    body_starts = len(lines)
    for i, line in enumerate(lines):
        match = _HEADER.match(line)
        if match is None:
            body_starts = i
            break
        key, value = match.groups()
        if key == "param":
            parts = _PARAM_LINE.fullmatch(value)
            if parts is None:
                raise bad(f"a param line is NAME DEFAULT description, not {value!r}")
            name, default, description = parts.groups()
            if name in params:
                raise bad(f"parameter {name} is declared twice")
            params[name] = "" if default == REQUIRED else default
            param_help[name] = description
        elif key in header:
            raise bad(f"more than one {key} line")
        else:
            header[key] = value
    stem = file_name.removesuffix(".sql")
    if header.get("name") != stem:
        raise bad(f"its name line must say {stem!r}")
    if not header.get("description"):
        raise bad("it has no description line")
    sql = "\n".join(lines[body_starts:]).strip() + "\n"
    used = param_names(sql)
    if set(used) != set(params):
        raise bad(f"it declares {sorted(params)} but its SQL uses {sorted(used)}")
    return Pattern(
        stem, header["description"], MappingProxyType(params), MappingProxyType(param_help), sql
    )


@cache
def _patterns() -> tuple[Pattern, ...]:
    folder = files("sidewalk.warehouse").joinpath("patterns")
    found = [
        parse_pattern(f.read_text(encoding="utf-8"), f.name)
        for f in folder.iterdir()
        if f.name.endswith(".sql")
    ]
    return tuple(sorted(found, key=lambda p: p.name))


def load_patterns() -> list[Pattern]:
    """Every pattern shipped with the package, by name."""
    return list(_patterns())


def pattern(name: str) -> Pattern:
    for p in _patterns():
        if p.name == name:
            return p
    names = ", ".join(p.name for p in _patterns())
    raise UnknownPattern(f"no pattern named {name!r}; the patterns are: {names}")


def ensure_tables(warehouse: Warehouse) -> None:
    """Every table a pattern may read, where missing: the mirror, the legacy import and the
    CRM import each create their own when they first run, and a pattern may come first."""
    create_mirror_tables(warehouse)
    create_legacy_tables(warehouse)
    create_crm_tables(warehouse)


def run_pattern(
    warehouse: Warehouse, name: str, params: Mapping[str, str]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows of the pattern `name`. An unknown pattern or parameter, or a missing
    required one, is a `PatternError` (a ValueError) raised before the warehouse is touched."""
    chosen = pattern(name)
    chosen.bind(params)
    ensure_tables(warehouse)
    return chosen.run(warehouse, params)
