"""The baseline of bench/api.py: the least a FastAPI POST endpoint can do. It validates a small
Pydantic body and answers a small JSON object (through a response model, as the merchant API
does), with no middleware, no authentication and no database."""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="bare endpoint")


class Ping(BaseModel):
    reference: str
    value_cents: int


class Pong(BaseModel):
    reference: str
    value_cents: int
    accepted: bool


@app.post("/v1/ping", status_code=201, response_model=Pong)
async def ping(body: Ping) -> Pong:
    return Pong(reference=body.reference, value_cents=body.value_cents, accepted=True)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
