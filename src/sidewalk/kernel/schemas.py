"""What both services' APIs share at their edge: coordinates, strict requests, problem
details and health answers (Pydantic)."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, examples=[34.0901])]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, examples=[-118.3617])]
# Text is stored as given (any script, emoji included) but never with NUL characters, which
# PostgreSQL cannot store and no address needs.
NO_NUL = r"^[^\x00]*$"
# An id in a path or query: any printable text, never a NUL, never longer than ids get.
Ident = Annotated[str, Field(max_length=64, pattern=NO_NUL)]


def _in_utc(at: datetime) -> datetime:
    try:
        return at.astimezone(UTC)
    except OverflowError as e:  # 0001-01-01T00:00+14:00 and the like
        raise ValueError("out of the calendar's range once in UTC") from e


# A time that names its zone, taken to UTC (a 4xx, not an overflow, at the calendar's ends).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class Request(BaseModel):
    """Requests are strict: no unknown fields, no strings where numbers belong."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ProblemField(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine `code`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[ProblemField] | None = None


class Health(BaseModel):
    status: str
