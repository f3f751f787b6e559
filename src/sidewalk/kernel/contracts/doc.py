"""The contracts' section of docs/events.md, written from the classes so the two cannot drift:
`python -m sidewalk.kernel.contracts.doc docs/events.md` (`make docs`) rewrites it between its
markers, and a test fails while the file says anything else."""

import sys
import types
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

from sidewalk.kernel.contracts import CONTRACTS, Contract

BEGIN = "<!-- contracts: written by `make docs` from src/sidewalk/kernel/contracts; edit those -->"
END = "<!-- end of contracts -->"
TITLES = {"deliveries": "From deliveries", "operations": "From operations"}


def _kind(annotation: Any) -> str:
    """A field's type in a reader's words."""
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{v}`" for v in get_args(annotation))
    if origin in (Union, types.UnionType):
        kinds = [_kind(a) for a in get_args(annotation) if a is not type(None)]
        nullable = type(None) in get_args(annotation)
        return " \\| ".join(kinds) + (", or null" if nullable else "")
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return f"list of {_kind(item)}"
    if origin is not None and get_args(annotation):  # Annotated
        return _kind(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object (" + ", ".join(f"`{n}`" for n in annotation.model_fields) + ")"
    if annotation is AwareDatetime or (
        isinstance(annotation, type) and issubclass(annotation, datetime)
    ):
        return "time (RFC 3339, with its zone)"
    names = {str: "text", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _field(name: str, info: FieldInfo) -> str:
    said = f"`{name}` ({_kind(info.annotation)}"
    if info.description:
        said += f": {info.description}"
    return said + ")"


def _row(contract: type[Contract]) -> str:
    types_ = ", ".join(f"`{t}`" for t in contract.TYPES)
    fields = contract.model_fields
    subject = ", ".join(f"`{n}`" for n in contract.SUBJECT) or "(none)"
    payload = "; ".join(_field(n, f) for n, f in fields.items() if n not in contract.SUBJECT)
    return (
        f"| {types_} | `{contract.__name__}` v{contract.SCHEMA_VERSION} | {subject} "
        f"| {payload} | {contract.WHEN} |"
    )


def markdown() -> str:
    """The section, markers included."""
    lines = [BEGIN, ""]
    for source, title in TITLES.items():
        lines += [
            f"### {title}",
            "",
            "| type | contract | subject | payload | when |",
            "| --- | --- | --- | --- | --- |",
            *(_row(c) for c in CONTRACTS if source == c.SOURCE),
            "",
        ]
    return "\n".join([*lines, END])


def rewritten(text: str) -> str:
    """`text` with its contracts section replaced by the current one."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + markdown() + text[end:]


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(rewritten(path.read_text()))
