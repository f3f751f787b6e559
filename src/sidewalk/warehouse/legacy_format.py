"""The legacy export as a file: UTF-8, RFC 4180 CSV, one header row naming the columns below,
then one record per delivery. What breaks the file as a whole (encoding, quoting, header)
raises `LegacyFileError`; what breaks one record sets that record aside with its reason.

Pure: the file's bytes in, deliveries and rejects out. Loading them is `legacy`."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from sidewalk.warehouse.legacy_rows import LegacyDelivery, RejectedRow, legacy_delivery

COLUMNS = (
    "order_id",
    "merchant_name",
    "pickup_address",
    "pickup_lat",
    "pickup_lng",
    "dropoff_address",
    "dropoff_lat",
    "dropoff_lng",
    "created_at",
    "picked_up_at",
    "delivered_at",
    "final_status",
    "robot_name",
)


class LegacyFileError(ValueError):
    """A file that is not a legacy export at all: nothing of it is imported."""


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: the line it starts on (the header is line 1) and its text as written."""

    line_number: int
    raw: str
    fields: list[str]


@dataclass(frozen=True, slots=True)
class Accepted:
    line_number: int
    raw: str
    delivery: LegacyDelivery


@dataclass(frozen=True, slots=True)
class Reject:
    line_number: int
    raw: str
    reason: str


@dataclass
class LegacyFile:
    """A file's deliveries and rejected records, each with where it came from."""

    deliveries: list[Accepted] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def read_legacy_file(data: bytes) -> LegacyFile:
    """Every record of the file checked; the first record of an order id keeps it, so a later
    one is rejected even when the first was rejected for a reason of its own."""
    records = _records(_text(data))
    header = next(records, None)
    if header is None:
        raise LegacyFileError("the file is empty: a legacy export starts with its header row")
    columns = _columns(header)
    result = LegacyFile()
    first_line: dict[str, int] = {}
    for record in records:
        if not record.fields:  # a blank line
            continue
        try:
            if len(record.fields) != len(columns):
                raise RejectedRow(f"expected {len(columns)} fields, found {len(record.fields)}")
            row = dict(zip(columns, (f.strip() for f in record.fields), strict=True))
            order_id = row["order_id"]
            if order_id:
                seen = first_line.setdefault(order_id, record.line_number)
                if seen != record.line_number:
                    raise RejectedRow(f"duplicate order_id {order_id!r} (first on line {seen})")
            delivery = legacy_delivery(row)
            result.deliveries.append(Accepted(record.line_number, record.raw, delivery))
        except RejectedRow as e:
            result.rejects.append(Reject(record.line_number, record.raw, str(e)))
    return result


def _text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise LegacyFileError(
            f"not UTF-8: line {line} has the byte 0x{data[e.start]:02x}"
        ) from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise LegacyFileError(f"not a text file: line {line} holds a NUL character")
    return text


def _records(text: str) -> Iterator[Record]:
    """The file's CSV records with the text each was read from. A quote out of place refuses
    the file: past it, where one record ends and the next begins can no longer be trusted."""
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), strict=True)
    start = 1
    try:
        for fields in reader:
            raw = "".join(consumed).removesuffix("\n").removesuffix("\r")
            consumed.clear()
            yield Record(start, raw, fields)
            start = reader.line_num + 1
    except csv.Error as e:
        raise LegacyFileError(f"not RFC 4180 CSV from line {start}: {e}") from None


def _columns(header: Record) -> list[str]:
    """The header's column names (any order, any case); every column of the format, no other."""
    names = [name.strip().lower() for name in header.fields]
    missing = [c for c in COLUMNS if c not in names]
    unknown = [repr(n) for n in names if n not in COLUMNS]
    twice = sorted({n for n in names if names.count(n) > 1})
    problems = [
        f"{what}: {', '.join(found)}"
        for what, found in (
            ("missing columns", missing),
            ("unknown columns", unknown),
            ("columns named twice", twice),
        )
        if found
    ]
    if problems:
        raise LegacyFileError(f"line 1 is not the legacy export's header ({'; '.join(problems)})")
    return names
