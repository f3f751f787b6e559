"""Salesforce export values as the warehouse keeps them: ids in their 18-character form, money
as exact integer cents, dates, booleans. Each raises `ValueError` saying what is wrong."""

import re
from datetime import date
from decimal import Context, Decimal, Inexact, InvalidOperation

_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-5]{3})?")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CENT = Decimal("0.01")
# Any rounding is an error: an amount is stored exactly or refused.
_EXACT = Context(prec=40, traps=[Inexact, InvalidOperation])
_BIGINT = 2**63


def salesforce_id(value: str) -> str:
    """The 18-character form of a 15- or 18-character id, so that both forms of one record
    are one row. The 15-character form is case-sensitive; the last three characters of the
    18-character form encode that case, which is restored from them (the long form survives
    tools that ignore case)."""
    if not _ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Salesforce id (15 or 18 letters and digits)")
    if len(value) == 15:
        return value + _checksum(value)
    body, suffix = list(value[:15]), value[15:].upper()
    for chunk, code in enumerate(suffix):
        bits = _SUFFIX.index(code)
        for offset in range(5):
            i = chunk * 5 + offset
            upper = bool(bits >> offset & 1)
            if upper and not body[i].isalpha():
                raise ValueError(f"{value!r} is not a Salesforce id (its last 3 do not match)")
            body[i] = body[i].upper() if upper else body[i].lower()
    return "".join(body) + suffix


def _checksum(short: str) -> str:
    return "".join(
        _SUFFIX[sum(1 << offset for offset, c in enumerate(short[i : i + 5]) if "A" <= c <= "Z")]
        for i in (0, 5, 10)
    )


def amount_cents(value: str) -> int:
    """A decimal amount in the org's currency as whole cents; fractions of a cent refused."""
    if not _AMOUNT.fullmatch(value):
        raise ValueError(f"{value!r} is not a decimal amount")
    try:
        cents = int(Decimal(value).quantize(_CENT, context=_EXACT).scaleb(2, context=_EXACT))
    except Inexact:
        raise ValueError(f"{value!r} has fractions of a cent") from None
    except InvalidOperation:
        raise ValueError(f"{value!r} is too large an amount") from None
    if not -_BIGINT <= cents < _BIGINT:
        raise ValueError(f"{value!r} is too large an amount")
    return cents


def close_date(value: str) -> date:
    if not _DATE.fullmatch(value):
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def flag(value: str) -> bool:
    """`true` or `false`, as Data Loader writes a checkbox (any case)."""
    word = value.lower()
    if word not in {"true", "false"}:
        raise ValueError(f"{value!r} is neither true nor false")
    return word == "true"
