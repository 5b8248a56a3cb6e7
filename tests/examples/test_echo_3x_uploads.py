"""The 3.x-style webcam echo served by `reactor run`, taking a picture our client uploads."""

from pathlib import Path

import av
import numpy as np
from client.served import reactor_run

from reactor_runtime.client import connect

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "echo_3x"


def half_white_png() -> bytes:
    picture = np.zeros((30, 40, 3), np.uint8)
    picture[:, 20:] = 255
    codec = av.CodecContext.create("png", "w")
    codec.height, codec.width, codec.pix_fmt = 30, 40, "rgb24"
    return b"".join(bytes(p) for p in codec.encode(av.VideoFrame.from_ndarray(picture)))


async def test_reactor_run_lays_a_picture_our_client_uploaded_over_the_echo():
    with reactor_run(EXAMPLE) as served:
        async with connect(served.url, audio=False) as session:
            ref = await session.upload(half_white_png(), name="half.png")
            assert (ref.name, ref.mime_type) == ("half.png", "image/png")
            reply = await session.command("set_overlay", image=ref, opacity=1.0)
            assert reply == ("overlay_set", {"width": 40, "height": 30})
            video = session.video()
            for _ in range(90):
                luma = (await video.next(timeout=10)).luma
                width = luma.shape[1]
                left, right = luma[:, : width // 2 - 4].mean(), luma[:, width // 2 + 4 :].mean()
                if left < 40 and right > 210:
                    break
            else:
                raise AssertionError(f"no frame showed the overlay: halves {left:.0f}, {right:.0f}")
