"""Calling a real courier network's API: one `httpx` client per adapter, JSON in and out,
with a network's answers sorted the way `CourierProvider` callers need them. A timeout, a
broken connection, a 5xx or a 429 may work later (`CourierError`: the event asking for the call
is handled again); any other 4xx will not (`Refused`, which the adapter turns into a
`CourierRejected` with a code of ours)."""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from sidewalk.deliveries.providers.courier import CourierError


class Refused(Exception):
    """The network answered a 4xx: its status, its own error code and its body."""

    def __init__(self, status: int, code: str, body: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {code}: {body.get('message', '')}")
        self.status, self.code, self.body = status, code, body


class NetworkClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout_s: float,
        headers: Callable[[], Mapping[str, str]],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._name, self._headers = name, headers
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s, transport=transport)

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, json=body, headers=dict(self._headers()))
        except httpx.HTTPError as e:
            raise CourierError(f"{self._name} did not answer {method} {path}: {e!r}") from e
        if response.status_code == 429 or response.status_code >= 500:
            raise CourierError(
                f"{self._name} answered {response.status_code} to {method} {path}; later"
            )
        try:
            payload = response.json() if response.content else {}
        except ValueError as e:
            raise CourierError(f"{self._name} answered {method} {path} with no JSON") from e
        if not isinstance(payload, dict):
            raise CourierError(f"{self._name} answered {method} {path} with no JSON object")
        if response.status_code >= 400:
            raise Refused(response.status_code, str(payload.get("code") or "refused"), payload)
        return payload

    def close(self) -> None:
        self._http.close()


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as networks write them (`Z` or an offset; UTC when neither)."""
    if not value:
        return None
    at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)
