"""Uploads end to end through real peers: our v1 client, and a raw v0 peer on the flat route."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from server_harness import ServedRuntime, T, sample_runtime

from reactor_runtime import (
    ClientInfo,
    ModelMessage,
    ReactorModel,
    UploadedFile,
    event,
    file_uploaded,
)
from reactor_runtime.client import CommandFailed, FileRef, connect
from reactor_runtime.server.runtime import NIL_SESSION_ID


class Taken(ModelMessage):
    name: str
    mime_type: str
    text: str


class Noted(ModelMessage):
    name: str
    size: int
    on_disk: bool


class Album(ReactorModel):
    """Takes uploaded text files; tells the uploader when one arrives."""

    async def run(self) -> None:
        await asyncio.Event().wait()

    @event(description="Take an uploaded file")
    def take(self, picture: UploadedFile, caption: str = "") -> Taken:
        text = caption + picture.data.decode()
        return Taken(
            picture.name, picture.mime_type, text if len(text) < 20 else text[:2] + text[-3:]
        )

    @file_uploaded
    async def noted(self, uploaded_file: UploadedFile, client: ClientInfo) -> None:
        on_disk = uploaded_file.path is not None and uploaded_file.path.exists()
        await client.send(Noted(uploaded_file.name, uploaded_file.size, on_disk))


@pytest.fixture(scope="module")
def album() -> Iterator[ServedRuntime]:
    server = ServedRuntime(sample_runtime(fake=False, model_class=Album)).start()
    try:
        yield server
    finally:
        server.stop()


async def test_our_client_uploads_a_file_hears_the_hook_and_a_command_takes_it(
    album: ServedRuntime, tmp_path
) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(b"x" * 300_000 + b"end")
    async with connect(album.url, timeout=20) as session:
        ref = await session.upload(path)
        assert (ref.name, ref.mime_type, ref.size) == ("note.txt", "text/plain", 300_003)
        noted = await session.wait_message("noted", timeout=10)
        assert noted == {"name": "note.txt", "size": 300_003, "on_disk": True}
        kind, data = await session.command("take", picture=ref)
        assert (kind, data["name"], data["mime_type"]) == ("taken", "note.txt", "text/plain")
        assert data["text"] == "xxend"
        # The 3.x inline form: the reference inside the arguments.
        inline = await session.command("take", picture={"upload_id": ref.upload_id}, caption="!")
        assert inline[1]["text"].startswith("!x")


async def test_a_command_naming_an_unknown_upload_fails_naming_parameter_and_id(
    album: ServedRuntime,
) -> None:
    async with connect(album.url, timeout=20) as session:
        with pytest.raises(CommandFailed) as failed:
            await session.command("take", picture=FileRef("no-such-id", "a.png", "image/png", 3))
    assert failed.value.code == "unresolved_upload"
    assert "argument 'picture'" in failed.value.message
    assert "'no-such-id'" in failed.value.message


async def v0_peer(url: str) -> tuple[RTCPeerConnection, object, asyncio.Queue]:
    """A raw peer on the flat route (the JS SDK's family), its `data` channel and inbox."""
    pc = RTCPeerConnection()
    channel = pc.createDataChannel("data")
    opened, inbox = asyncio.Event(), asyncio.Queue()
    channel.on("open", opened.set)
    channel.on("message", lambda frame: inbox.put_nowait(json.loads(frame)))
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        route = T.format(sid=NIL_SESSION_ID) + "/sdp_params"
        body = {"sdp_offer": pc.localDescription.sdp, "track_mapping": []}
        assert (await http.post(route, json=body)).status_code == 202
        deadline = time.monotonic() + 10
        while (answer := await http.get(route)).status_code == 202:
            assert time.monotonic() < deadline, "no answer within 10 s"
            await asyncio.sleep(0.05)
    await pc.setRemoteDescription(RTCSessionDescription(answer.json()["sdp_answer"], "answer"))
    await asyncio.wait_for(opened.wait(), 10)
    return pc, channel, inbox


async def next_of(inbox: asyncio.Queue, kind: str) -> dict:
    while True:
        frame = await asyncio.wait_for(inbox.get(), 10)
        if frame["data"]["type"] == kind:
            return frame["data"]["data"]


async def test_a_v0_peer_uploads_notifies_and_sends_a_command_with_an_uploads_map(
    album: ServedRuntime,
) -> None:
    async with httpx.AsyncClient(base_url=album.url, timeout=10) as http:
        assert (await http.post("/start_session", json={})).status_code == 200
        pc, channel, inbox = await v0_peer(album.url)
        try:
            announced = await http.post(
                f"/sessions/{NIL_SESSION_ID}/uploads",
                json={"name": "hi.txt", "size": 2, "mime_type": "text/plain"},
            )
            upload = announced.json()
            assert (await http.put(upload["presigned_url"], content=b"hi")).status_code == 200
            ref = {"upload_id": upload["presigned_id"], "name": "hi.txt"}
            ref |= {"mime_type": "text/plain", "size": 2}
            channel.send(
                json.dumps({"scope": "runtime", "data": {"type": "fileUploaded", "data": ref}})
            )
            assert await next_of(inbox, "noted") == {"name": "hi.txt", "size": 2, "on_disk": True}
            command = {"type": "take", "data": {"caption": "v0:"}, "uploads": {"picture": ref}}
            channel.send(json.dumps({"scope": "application", "data": command}))
            taken = await next_of(inbox, "taken")
            assert taken == {"name": "hi.txt", "mime_type": "text/plain", "text": "v0:hi"}
            missing = {**command, "uploads": {"picture": {**ref, "upload_id": "gone"}}}
            channel.send(json.dumps({"scope": "application", "data": missing}))
            error = await next_of(inbox, "commandError")
            assert error["code"] == "unresolved_upload" and "'gone'" in error["message"]
        finally:
            await pc.close()
