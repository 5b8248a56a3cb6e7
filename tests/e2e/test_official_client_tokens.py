"""What the official Python SDK does against a runtime guarded by `--token` (README, "Clients").

`reactor-sdk` 1.13.0 in local mode sends `Authorization: Bearer <jwt>` on the transport
routes only, none on `/start_session`: a guarded runtime refuses it there with a clean
401, which the SDK reports as `UnauthorizedError`. Should a later SDK send the header
on the session routes too, this test fails and the README's advice must be revised.
Only HTTP is exchanged (the refusal comes before any WebRTC), so loopback suffices.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from client.served import CONFORMANCE_MODEL, reactor_run
from e2e.sdk_clients import py_client_missing

TOKEN = "official-sdk-token"
SCRIPT = """
import asyncio, json, sys
from reactor_sdk import Reactor

async def main():
    reactor = Reactor("conformance", local=True, api_url=sys.argv[1], jwt=sys.argv[2])
    try:
        await asyncio.wait_for(reactor.connect(), 20)
        outcome = {"connected": True}
    except Exception as exc:
        outcome = {"connected": False, "error": type(exc).__name__, "message": str(exc)}
    finally:
        await reactor.disconnect()
    print(json.dumps(outcome))

asyncio.run(main())
"""


def test_the_official_python_sdk_in_local_mode_is_refused_at_start_session() -> None:
    reason = py_client_missing()
    if reason:
        pytest.skip(reason)
    with reactor_run(CONFORMANCE_MODEL, "--token", TOKEN) as served:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, served.url, TOKEN],
            capture_output=True,
            text=True,
            timeout=60,
        )
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
        assert outcome["connected"] is False, outcome
        assert outcome["error"] == "UnauthorizedError", outcome
        assert "401" in outcome["message"] and "start session" in outcome["message"]
        assert served.health()["viewers"] == 0
