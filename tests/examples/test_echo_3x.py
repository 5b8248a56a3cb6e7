"""The 3.x-style webcam echo: rendered with scripted commands, served by `reactor run`."""

import asyncio
import sys
from pathlib import Path

import av
import httpx
import numpy as np
from client.served import reactor_run
from sessions import running

from reactor_runtime import InputFrame, UploadedFile
from reactor_runtime.client import connect
from reactor_runtime.config import load_project
from reactor_runtime.render import ScriptedCommand, render

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "echo_3x"
PROJECT = load_project(EXAMPLE)
WebcamEcho = PROJECT.model_class
echo = sys.modules[WebcamEcho.__module__]


def png(picture: np.ndarray) -> bytes:
    codec = av.CodecContext.create("png", "w")
    codec.height, codec.width = picture.shape[:2]
    codec.pix_fmt = "rgb24"
    return b"".join(bytes(p) for p in codec.encode(av.VideoFrame.from_ndarray(picture)))


async def test_rendering_greets_plays_batches_with_metadata_and_answers_the_script(tmp_path):
    script = [ScriptedCommand(0.5, "set_effect", {"effect": "invert"})]
    result = await render(PROJECT, 1.5, script, tmp_path / "echo.mp4")
    greetings = [e["data"] for e in result.events if e.get("type") == "echo_status"]
    assert greetings == [{"effect": "none", "overlay": False, "viewer": "render"}]
    replies = [e["reply"] for e in result.events if e.get("command") == "set_effect"]
    assert replies == [
        {"type": "echo_status", "data": {"effect": "invert", "overlay": False, "viewer": ""}}
    ]
    assert result.video_frames >= 40
    # Every played frame came with its metadata (kept and counted, not on the wire yet).
    assert result.stats["frame_metadata"] >= result.video_frames - 2
    with av.open(str(tmp_path / "echo.mp4")) as container:
        lumas = [(f.time, f.to_ndarray(format="gray").mean()) for f in container.decode(video=0)]
    assert np.median([m for t, m in lumas if t < 0.4]) < 100  # the dark pattern
    assert np.median([m for t, m in lumas if t > 0.8]) > 150  # inverted


async def test_an_uploaded_picture_is_laid_over_the_webcam_in_process():
    overlay = np.zeros((30, 40, 3), np.uint8)
    overlay[:, 20:] = 255
    upload = UploadedFile(name="half.png", mime_type="image/png", data=png(overlay))
    async with running(WebcamEcho) as (session, rec):
        reply = await session.dispatch("set_overlay", {"image": upload, "opacity": 1.0})
        assert reply == ("overlay_set", {"width": 40, "height": 30})
        webcam = np.full((60, 80, 3), 128, np.uint8)
        start = len(rec.frames)
        while len(rec.frames) < start + 6:
            session.push_input("webcam", InputFrame(webcam))
            await asyncio.sleep(1 / 30)
        picture = rec.frames[-1].video["main_video"]
    assert picture.shape == (60, 80, 3)
    assert picture[:, :38].max() == 0 and picture[:, 42:].min() == 255


async def test_reactor_run_serves_it_to_our_client_which_sees_its_webcam_inverted():
    def webcam_frames():
        async def frames():
            while True:
                yield np.full((120, 160, 3), 200, np.uint8)
                await asyncio.sleep(1 / 30)

        return frames()

    with reactor_run(EXAMPLE) as served:
        async with connect(served.url, audio=False, publish=["webcam"]) as session:
            # The v1 schema reply is the document GET /schema serves, in the 3.x layout.
            published = await session.schema()
            assert published == httpx.get(f"{served.url}/schema", timeout=5).json()
            image = published["paths"]["/events/set_overlay"]["post"]["requestBody"]
            properties = image["content"]["application/json"]["schema"]["properties"]
            assert properties["image"]["$ref"] == "#/components/schemas/ReactorUploadReference"
            reply = await session.command("set_effect", effect="invert")
            assert reply == ("echo_status", {"effect": "invert", "overlay": False, "viewer": ""})
            await session.publish("webcam", webcam_frames())
            video = session.video()
            for _ in range(150):
                frame = await video.next(timeout=10)
                if frame.array.shape[:2] == (120, 160) and abs(frame.luma.mean() - 55) < 10:
                    break
            else:
                raise AssertionError(f"no inverted webcam frame came back: {frame.luma.mean()}")
            await session.publish("webcam", None)
