"""Salesforce Data Loader exports read into accounts and opportunities. Headers are the
fields' API names, in any case (Data Loader writes them in capitals) and any order; other
columns are ignored. A file that cannot be read whole raises `CrmFileError`: the export is
a machine's, so anything wrong in it means the wrong file, not a row to set aside."""

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol, TypeVar

from sidewalk.warehouse.crm_values import amount_cents, close_date, flag, salesforce_id

T = TypeVar("T")


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Identified)

ACCOUNT_HEADERS = (
    "Id",
    "Name",
    "Type",
    "Industry",
    "BillingCity",
    "BillingState",
    "OwnerId",
    "Merchant_Id__c",
)
# `IsWon` may be left out: it then follows from the stage.
OPPORTUNITY_HEADERS = ("Id", "AccountId", "Name", "Amount", "StageName", "CloseDate")
WON_STAGE = "Closed Won"


class CrmFileError(ValueError):
    """An export that cannot be imported as a whole: nothing of the import is written."""


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    type: str | None
    industry: str | None
    billing_city: str | None
    billing_state: str | None
    owner_id: str | None
    merchant_id: str | None


@dataclass(frozen=True, slots=True)
class Opportunity:
    id: str
    account_id: str | None
    name: str
    amount_cents: int | None
    stage_name: str | None
    close_date: date | None
    is_won: bool


def read_accounts(path: Path) -> list[Account]:
    return _read(path, ACCOUNT_HEADERS, _account)


def read_opportunities(path: Path) -> list[Opportunity]:
    return _read(path, OPPORTUNITY_HEADERS, _opportunity)


def _account(row: "_Row") -> Account:
    return Account(
        id=row.value("Id", salesforce_id),
        name=row.required("Name"),
        type=row.text("Type"),
        industry=row.text("Industry"),
        billing_city=row.text("BillingCity"),
        billing_state=row.text("BillingState"),
        owner_id=row.optional("OwnerId", salesforce_id),
        merchant_id=row.text("Merchant_Id__c"),
    )


def _opportunity(row: "_Row") -> Opportunity:
    stage = row.text("StageName")
    won = row.optional("IsWon", flag)
    return Opportunity(
        id=row.value("Id", salesforce_id),
        account_id=row.optional("AccountId", salesforce_id),
        name=row.required("Name"),
        amount_cents=row.optional("Amount", amount_cents),
        stage_name=stage,
        close_date=row.optional("CloseDate", close_date),
        is_won=stage == WON_STAGE if won is None else won,
    )


class _Row:
    """One record's fields by lower-cased header, each value stripped."""

    def __init__(self, fields: Mapping[str, str], where: str) -> None:
        self._fields, self.where = fields, where

    def text(self, name: str) -> str | None:
        return self._fields.get(name.lower()) or None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise CrmFileError(f"{self.where}: {name} is empty")
        return value

    def value(self, name: str, parse: Callable[[str], T]) -> T:
        return self._parsed(name, self.required(name), parse)

    def optional(self, name: str, parse: Callable[[str], T]) -> T | None:
        value = self.text(name)
        return None if value is None else self._parsed(name, value, parse)

    def _parsed(self, name: str, value: str, parse: Callable[[str], T]) -> T:
        try:
            return parse(value)
        except ValueError as e:
            raise CrmFileError(f"{self.where}: {name} {e}") from None


def _read(path: Path, headers: tuple[str, ...], build: "Callable[[_Row], R]") -> list[R]:
    """Every record of the file built, each Salesforce id once."""
    records = _records(path)
    header = next(records, None)
    if header is None:
        raise CrmFileError(f"{path.name} is empty: an export starts with its header row")
    names = [name.strip().lower() for name in header[1]]
    missing = [h for h in headers if h.lower() not in names]
    if missing:
        raise CrmFileError(f"{path.name} lacks the columns {', '.join(missing)}")
    built: list[R] = []
    lines: dict[str, int] = {}
    for line, fields in records:
        if not fields:
            continue
        where = f"{path.name} line {line}"
        if len(fields) != len(names):
            raise CrmFileError(f"{where}: {len(fields)} fields under {len(names)} headers")
        item = build(_Row(dict(zip(names, (f.strip() for f in fields), strict=True)), where))
        if (first := lines.setdefault(item.id, line)) != line:
            raise CrmFileError(f"{where}: Id {item.id} again (first on line {first})")
        built.append(item)
    return built


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line the record starts on, its fields), in a file that must be UTF-8 CSV."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CrmFileError(f"{path.name} is not UTF-8 (byte {e.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for fields in reader:
            yield start, fields
            start = reader.line_num + 1
    except csv.Error as e:
        raise CrmFileError(f"{path.name} is not CSV from line {start}: {e}") from None
