"""Malformed fingerprints and ICE credentials: 400 on the offer POST, before any peer exists."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from server_harness import SAMPLE_MAPPING, FakePeer, ServedRuntime, T, fake_offer, sample_runtime

PWD = "0123456789012345678901"
GOOD_PRINT = "a=fingerprint:sha-256 " + ":".join(["AB"] * 32)

Edit = Callable[[str], str]


def session_print(line: str) -> Edit:
    return lambda sdp: sdp.replace(GOOD_PRINT, line)


def first_media(line: str) -> Edit:
    """Add `line` to the first m-section only (the session-level lines stay)."""
    return lambda sdp: sdp.replace("a=mid:0\r\n", f"a=mid:0\r\n{line}\r\n", 1)


def every(attribute: str, value: str) -> Edit:
    return lambda sdp: re.sub(rf"^a={attribute}:.*$", f"a={attribute}:{value}", sdp, flags=re.M)


MALFORMED = {
    "fingerprint not hex": (session_print("a=fingerprint:sha-256 " + ":".join(["ZZ"] * 32)), "32 hex pairs"),
    "fingerprint too short": (session_print("a=fingerprint:sha-256 " + ":".join(["AB"] * 20)), "32 hex pairs"),
    "fingerprint of another hash's length": (session_print("a=fingerprint:sha-1 " + ":".join(["AB"] * 32)), "sha-1 fingerprint is 20"),
    "fingerprint pairs not colon-separated": (session_print("a=fingerprint:sha-256 " + "AB" * 32), "32 hex pairs"),
    "unknown hash function": (session_print("a=fingerprint:sha-999 AB:CD"), "unknown hash function 'sha-999'"),
    "fingerprint without a digest": (session_print("a=fingerprint:sha-256"), "'<hash function> <hex pairs>'"),
    "fingerprint with a third word": (session_print(GOOD_PRINT + " AB"), "'<hash function> <hex pairs>'"),
    "malformed fingerprint in one m-section": (first_media("a=fingerprint:sha-256 AB:"), "line 10 (a=fingerprint)"),
    "ufrag too short": (every("ice-ufrag", "abc"), "4-256 ice-chars"),
    "ufrag too long": (every("ice-ufrag", "u" * 257), "4-256 ice-chars"),
    "ufrag with a character outside ice-chars": (every("ice-ufrag", "ab_cd"), "not all ice-chars"),
    "password too short": (every("ice-pwd", "short"), "22-256 ice-chars"),
    "password with a character outside ice-chars": (every("ice-pwd", PWD + "!"), "not all ice-chars"),
    "no password at all": (lambda sdp: re.sub(r"^a=ice-pwd:.*\r\n", "", sdp, flags=re.M), "no 'a=ice-pwd:' line"),
}  # fmt: skip

WELL_FORMED = {
    "lower-case hex and hash name in capitals": session_print(
        "a=fingerprint:SHA-256 " + ":".join(["ab"] * 32)
    ),
    "a sha-384 fingerprint in each m-section only": lambda sdp: first_media(
        "a=fingerprint:sha-384 " + ":".join(["0F"] * 48)
    )(sdp.replace(GOOD_PRINT + "\r\n", "")),
    "ice-chars '+' and '/' in credentials": every("ice-pwd", "ab+/" * 6),
}


def offer_with(edit: Edit) -> dict:
    return {"sdp_offer": edit(fake_offer()), "track_mapping": SAMPLE_MAPPING}


@pytest.mark.parametrize(("edit", "says"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_credential_is_refused_before_any_answer_on_both_families(
    started: httpx.Client, edit: Edit, says: str
) -> None:
    cid = started.post(T + "/connections").json()["connection_id"]
    for base in (T, f"{T}/connections/{cid}"):
        for method in ("POST", "PUT"):
            response = started.request(method, base + "/sdp_params", json=offer_with(edit))
            assert response.status_code == 400, (base, method)
            assert says in response.json()["detail"], response.json()["detail"]
            assert PWD not in response.json()["detail"]
        assert started.get(base + "/sdp_params").status_code == 404
    assert FakePeer.created == []
    assert started.get("/session").json()["state"] == "WAITING"


@pytest.mark.parametrize("edit", WELL_FORMED.values(), ids=WELL_FORMED.keys())
def test_well_formed_variants_of_the_credential_lines_are_accepted(
    started: httpx.Client, edit: Edit
) -> None:
    assert started.post(T + "/sdp_params", json=offer_with(edit)).status_code == 202


def test_a_real_offer_with_a_corrupted_fingerprint_gets_400_from_the_real_transport() -> None:
    served = ServedRuntime(sample_runtime(fake=False)).start()

    async def offers() -> tuple[str, list[dict]]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        video = pc.addTransceiver("video", direction="recvonly")
        audio = pc.addTransceiver("audio", direction="recvonly")
        pc.createDataChannel("data")
        await pc.setLocalDescription(await pc.createOffer())
        mapping = [
            {"mid": video.mid, "name": "main_video", "kind": "video", "direction": "recvonly"},
            {"mid": audio.mid, "name": "main_audio", "kind": "audio", "direction": "recvonly"},
        ]
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp, mapping

    try:
        sdp, mapping = served.call(offers())
        # One digit too few: what a truncating proxy or a hostile client sends.
        broken = re.sub(r"(a=fingerprint:sha-256 \S+)[0-9A-F]", r"\1", sdp)
        assert broken != sdp
        with served.client() as http:
            http.post("/start_session")
            cid = http.post(T + "/connections").json()["connection_id"]
            for base in (T, f"{T}/connections/{cid}"):
                body = {"sdp_offer": broken, "track_mapping": mapping}
                response = http.post(base + "/sdp_params", json=body)
                assert response.status_code == 400
                assert "a=fingerprint" in response.json()["detail"]
                assert http.get(base + "/sdp_params").status_code == 404
            assert served.runtime.session.viewers == set()
            body = {"sdp_offer": sdp, "track_mapping": mapping}
            assert http.post(T + "/sdp_params", json=body).status_code == 202
    finally:
        served.stop()
