"""What both services' APIs share at their edge: coordinates, strict requests, problem
details and health answers (Pydantic)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, examples=[34.0901])]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, examples=[-118.3617])]
# Text is stored as given (any script, emoji included) but never with NUL characters, which
# PostgreSQL cannot store and no address needs.
NO_NUL = r"^[^\x00]*$"


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
