"""The HTTP half of a v1 connection (WIRE.md §2.2-2.7): session and transport routes.

The order is the official Python SDK's: `POST /start_session`, `GET T/ice_servers`,
`POST T/connections`, optional candidate batches, `POST T/connections/{cid}/sdp_params`,
then `GET` the same route until the answer is ready (202 while pending).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from .. import __version__

API_HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}
TRANSPORT_HEADERS = {**API_HEADERS, "Reactor-WebRTC-Version": "1.0"}
CLIENT_INFO = {"sdk_version": __version__, "sdk_type": "reactor_runtime-python"}
FIRST_POLL = 0.02
"""Seconds before the first answer poll; it doubles up to `MAX_POLL`."""
MAX_POLL = 0.25


class ConnectError(Exception):
    """The session could not be started or the connection not negotiated."""


class Signalling:
    """Typed calls on one runtime's HTTP routes, sharing one `httpx.AsyncClient`."""

    def __init__(
        self, url: str, timeout: float = 10.0, *, token: str | None = None, verify: Any = True
    ) -> None:
        """Talk to the runtime at base `url` (e.g. `http://127.0.0.1:8080`).

        `token` is sent as `Authorization: Bearer` on every request; `verify` is httpx's
        (True, False, or a CA bundle path such as a `--tls self-signed` certificate).
        """
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(
            base_url=self.url, timeout=timeout, headers=headers, verify=verify
        )
        self.session_id: str | None = None

    @property
    def transport(self) -> str:
        """`T` of WIRE.md: the running session's transport route prefix."""
        if self.session_id is None:
            raise RuntimeError("no session yet: call start_session() first")
        return f"/sessions/{self.session_id}/transport/webrtc"

    async def start_session(self, deadline: float) -> dict[str, Any]:
        """`POST /start_session`; while the model loads (503) retry until `deadline`.

        Returns:
            The session descriptor (WIRE.md §6).

        Raises:
            ConnectError: any other refusal, or still loading at `deadline`.
        """
        while True:
            response = await self._call("POST", "/start_session", json={}, headers=API_HEADERS)
            if response.status_code == 503 and time.monotonic() < deadline:
                retry = _retry_after(response)
                await asyncio.sleep(min(retry, max(0.0, deadline - time.monotonic())))
                continue
            descriptor = _json(response, "POST /start_session", 200)
            self.session_id = str(descriptor["session_id"])
            return descriptor

    async def stop_session(self) -> None:
        """`POST /stop_session` (the server always answers 200)."""
        await self._call("POST", "/stop_session", headers=API_HEADERS)

    async def ice_servers(self) -> list[dict[str, Any]]:
        """`GET T/ice_servers`: WIRE.md §2.5 entries (`[]` on a local runtime)."""
        path = f"{self.transport}/ice_servers"
        response = await self._call("GET", path, headers=TRANSPORT_HEADERS)
        servers = _json(response, f"GET {path}", 200).get("ice_servers", [])
        if not isinstance(servers, list):
            raise ConnectError(f"GET {path}: 'ice_servers' is not a list: {servers!r}")
        return servers

    async def new_connection(self) -> int:
        """`POST T/connections`: a fresh connection id."""
        path = f"{self.transport}/connections"
        response = await self._call("POST", path, json={}, headers=TRANSPORT_HEADERS)
        return int(_json(response, f"POST {path}", 201)["connection_id"])

    async def send_candidates(
        self, cid: int, candidates: list[dict[str, Any]], is_final: bool
    ) -> None:
        """`POST T/connections/{cid}/ice_candidates` (the SDK's trickle shape)."""
        path = f"{self.transport}/connections/{cid}/ice_candidates"
        body = {"candidates": candidates, "is_final": is_final, "client_info": CLIENT_INFO}
        response = await self._call("POST", path, json=body, headers=TRANSPORT_HEADERS)
        _check(response, f"POST {path}")

    async def send_offer(self, cid: int, sdp: str, track_mapping: list[dict[str, str]]) -> None:
        """`POST T/connections/{cid}/sdp_params` with the offer body of WIRE.md §2.9."""
        path = f"{self.transport}/connections/{cid}/sdp_params"
        body = {"sdp_offer": sdp, "client_info": CLIENT_INFO, "track_mapping": track_mapping}
        response = await self._call("POST", path, json=body, headers=TRANSPORT_HEADERS)
        _check(response, f"POST {path}")

    async def wait_answer(self, cid: int, deadline: float) -> str:
        """Poll `GET T/connections/{cid}/sdp_params` until 200 (or fail by `deadline`).

        Polls start fast (20 ms, doubling to 250 ms): a local runtime answers within
        tens of milliseconds, and every poll saved is connect latency saved.

        Raises:
            ConnectError: a status other than 200/202, or no answer by `deadline`.
        """
        path = f"{self.transport}/connections/{cid}/sdp_params"
        delay = FIRST_POLL
        while True:
            response = await self._call("GET", path, headers=TRANSPORT_HEADERS)
            if response.status_code != 202:
                return str(_json(response, f"GET {path}", 200)["sdp_answer"])
            if time.monotonic() + delay > deadline:
                raise ConnectError(f"GET {path}: no answer before the connect timeout")
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_POLL)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConnectError(f"{method} {self.url}{path}: {exc!r}") from exc


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.05, float(response.headers.get("Retry-After", "0.5")))
    except ValueError:
        return 0.5


def _check(response: httpx.Response, what: str) -> None:
    if not response.is_success:
        raise ConnectError(f"{what}: HTTP {response.status_code}: {_detail(response)}")


def _json(response: httpx.Response, what: str, expected: int) -> dict[str, Any]:
    if response.status_code != expected and not response.is_success:
        raise ConnectError(f"{what}: HTTP {response.status_code}: {_detail(response)}")
    try:
        body = response.json()
    except ValueError:
        raise ConnectError(f"{what}: the body is not JSON: {response.text[:200]!r}") from None
    if not isinstance(body, dict):
        raise ConnectError(f"{what}: expected a JSON object, got {body!r}")
    return body


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or "(empty body)"
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:300]
