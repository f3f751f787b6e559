"""The legacy export's rows and file read without a warehouse: what a row means, why one is
refused, and where each record starts."""

from datetime import UTC, datetime

import pytest

from sidewalk.warehouse.legacy_format import COLUMNS, LegacyFileError, read_legacy_file
from sidewalk.warehouse.legacy_rows import FinalStatus, RejectedRow, legacy_delivery

HEADER = ",".join(COLUMNS)


def row(**changes: str) -> dict[str, str]:
    return dict.fromkeys(COLUMNS, "") | {
        "order_id": "L-1",
        "merchant_name": "Sunset Bakery",
        "created_at": "2021-03-01T10:00:00Z",
        "final_status": "cancelled",
        **changes,
    }


def reason(**changes: str) -> str:
    with pytest.raises(RejectedRow) as refused:
        legacy_delivery(row(**changes))
    return str(refused.value)


@pytest.mark.parametrize(
    ("written", "status"),
    [
        ("delivered", FinalStatus.DELIVERED),
        ("Completed", FinalStatus.DELIVERED),
        ("CANCELED", FinalStatus.CANCELLED),
        ("failed", FinalStatus.FAILED),
        ("returned_to_sender", FinalStatus.RETURNED),
    ],
)
def test_legacy_words_for_how_a_delivery_ended(written: str, status: FinalStatus) -> None:
    times = {"picked_up_at": "2021-03-01T10:10:00Z"}
    if status is FinalStatus.DELIVERED:
        times["delivered_at"] = "2021-03-01T10:30:00Z"
    assert legacy_delivery(row(final_status=written, **times)).final_status is status


def test_times_keep_their_instant_and_are_held_in_utc() -> None:
    delivery = legacy_delivery(
        row(created_at="2021-03-01T10:00:00.5-08:00", picked_up_at="2021-03-01T18:05:00+00:00")
    )
    assert delivery.created_at == datetime(2021, 3, 1, 18, 0, 0, 500_000, tzinfo=UTC)
    assert delivery.created_at.tzinfo is UTC
    assert delivery.picked_up_at == datetime(2021, 3, 1, 18, 5, tzinfo=UTC)


@pytest.mark.parametrize("naive", ["2021-03-01T10:00:00", "2021-03-01 10:00", "2021-03-01"])
def test_a_time_without_an_offset_is_refused(naive: str) -> None:
    assert reason(created_at=naive) == f"created_at {naive!r} has no UTC offset (add Z or +hh:mm)"


def test_a_row_is_refused_with_every_problem_it_has_in_column_order() -> None:
    assert reason(order_id="", pickup_lat="abc", pickup_lng="0", final_status="gone") == (
        "missing order_id; pickup_lat 'abc' is not a number; "
        "final_status 'gone' is not one of delivered, cancelled, failed, returned"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"pickup_lat": "nan", "pickup_lng": "0"}, "pickup_lat nan is out of range (-90 to 90)"),
        ({"pickup_lng": "1"}, "pickup_lat and pickup_lng come together or not at all"),
        ({"final_status": "returned"}, "returned without picked_up_at"),
        (
            {"final_status": "delivered"},
            "delivered without picked_up_at; delivered without delivered_at",
        ),
        (
            {"picked_up_at": "2021-03-01T10:10:00Z", "delivered_at": "2021-03-01T10:05:00Z"},
            "delivered_at is before picked_up_at; delivered_at given but final_status is cancelled",
        ),
    ],
)
def test_rows_that_contradict_themselves_are_refused(
    changes: dict[str, str], expected: str
) -> None:
    assert reason(**changes) == expected


def test_empty_optional_fields_are_null() -> None:
    delivery = legacy_delivery(row())
    assert (delivery.pickup_address, delivery.pickup_lat, delivery.robot_name) == (None, None, None)


def test_records_keep_the_line_they_start_on_and_their_text_as_written() -> None:
    columns = list(reversed(COLUMNS))
    header = ",".join(c.upper() for c in columns)
    first = row(order_id="L-1", pickup_address="1 Main St\nback door", robot_name=" R2 ")
    second = row(order_id="L-2", final_status="lost")
    lines = [_csv(first, columns), "", _csv(second, columns)]
    data = ("\ufeff" + header + "\r\n" + "\r\n".join(lines) + "\r\n").encode()

    parsed = read_legacy_file(data)

    [accepted] = parsed.deliveries
    assert (accepted.line_number, accepted.raw) == (2, lines[0])
    assert accepted.delivery.pickup_address == "1 Main St\nback door"
    assert accepted.delivery.robot_name == "R2"
    [rejected] = parsed.rejects
    assert (rejected.line_number, rejected.raw) == (5, lines[2])


def test_the_first_row_of_an_order_keeps_it_even_when_rejected() -> None:
    bad, good = row(created_at="soon"), row()
    data = "\n".join([HEADER, _csv(bad, COLUMNS), _csv(good, COLUMNS)]).encode()

    parsed = read_legacy_file(data)

    assert parsed.deliveries == []
    assert [r.reason for r in parsed.rejects] == [
        "created_at 'soon' is not an ISO 8601 time",
        "duplicate order_id 'L-1' (first on line 2)",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (f"{HEADER}\nL-1,Caf\xe9\n".encode("latin-1"), "not UTF-8: line 2 has the byte 0xe9"),
        (f'{HEADER}\nL-1,"open\n'.encode(), "not RFC 4180 CSV from line 2"),
        (HEADER.replace("robot_name", "robot").encode(), "missing columns: robot_name"),
        (f"{HEADER},order_id".encode(), "columns named twice: order_id"),
    ],
)
def test_a_file_that_is_not_a_legacy_export_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(LegacyFileError, match=message):
        read_legacy_file(data)


def _csv(values: dict[str, str], columns: list[str] | tuple[str, ...]) -> str:
    return ",".join(f'"{values[c]}"' if "\n" in values[c] else values[c] for c in columns)
