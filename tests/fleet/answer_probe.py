"""Through a fleet gateway: mint a token, open a session, offer, print the answer's candidates.

Run inside the test's network namespace::

    python answer_probe.py --url http://10.77.0.2:8090 --api-key KEY

Prints one JSON line, `{"session_id", "candidates": [[address, port, type], ...]}`,
and ends the session (DELETE). Uses aiortc for a real offer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time

import httpx
from aiortc import RTCPeerConnection

_CANDIDATE = re.compile(r"a=candidate:\S+ \d \S+ \d+ (\S+) (\d+) typ (\S+)")


async def probe(url: str, api_key: str) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        minted = await http.post("/tokens", headers={"Reactor-API-Key": api_key}, json=None)
        token = minted.raise_for_status().json()["jwt"]
        auth = {"Authorization": f"Bearer {token}"}
        sid = (await http.post("/sessions", headers=auth, json={})).json()["session_id"]
        deadline = time.monotonic() + 60
        while "capabilities" not in (
            found := (await http.get(f"/sessions/{sid}", headers=auth)).json()
        ):
            assert found["state"] != "CLOSED" and time.monotonic() < deadline, found
        tracks = found["capabilities"]["tracks"]
        pc = RTCPeerConnection()
        mapping = []
        for track in tracks:
            transceiver = pc.addTransceiver(track["kind"], direction="recvonly")
            mapping.append(
                {
                    "name": track["name"],
                    "kind": track["kind"],
                    "direction": "recvonly",
                    "t": transceiver,
                }
            )
        pc.createDataChannel("data")
        await pc.setLocalDescription(await pc.createOffer())
        for entry in mapping:
            entry["mid"] = entry.pop("t").mid
        transport = f"/sessions/{sid}/transport/webrtc"
        offered = await http.post(
            transport + "/sdp_params",
            headers=auth,
            json={"sdp_offer": pc.localDescription.sdp, "track_mapping": mapping},
        )
        assert offered.status_code == 202, offered.text
        while (
            answer := await http.get(transport + "/sdp_params", headers=auth)
        ).status_code == 202:
            await asyncio.sleep(0.1)
        sdp = answer.json()["sdp_answer"]
        await pc.close()
        await http.delete(f"/sessions/{sid}", headers=auth)
        return {
            "session_id": sid,
            "candidates": [list(c) for c in _CANDIDATE.findall(sdp)],
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--api-key", required=True)
    opts = parser.parse_args()
    print(json.dumps(asyncio.run(probe(opts.url, opts.api_key))), flush=True)


if __name__ == "__main__":
    main()
