"""The official Python SDK uploads a picture (`upload_file`) that a 3.x-style command takes.

`reactor run examples/echo_3x` listens inside a private network namespace; the SDK's
client script uploads a PNG once ready, then sends `set_overlay` with the `FileRef`
as its `image` (the SDK sends it in the command's `uploads` map).
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from client.served import reactor_run
from e2e.sdk_clients import py_client_missing, run_client

ECHO_3X = Path(__file__).resolve().parents[2] / "examples" / "echo_3x"


def test_the_python_sdk_uploads_a_picture_a_command_takes(netns, tmp_path) -> None:
    if reason := py_client_missing():
        pytest.skip(reason)
    picture = np.zeros((30, 40, 3), np.uint8)
    codec = av.CodecContext.create("png", "w")
    codec.height, codec.width, codec.pix_fmt = 30, 40, "rgb24"
    png = tmp_path / "overlay.png"
    png.write_bytes(b"".join(bytes(p) for p in codec.encode(av.VideoFrame.from_ndarray(picture))))
    with reactor_run(ECHO_3X, host=netns.address, prefix=netns.exec_prefix) as served:
        result = run_client(
            netns,
            "py",
            served.url,
            command="set_overlay",
            args={"opacity": 1.0},
            seconds=1,
            timeout=40,
            extra=("--upload", str(png), "--upload-param", "image"),
        )
    assert result["ok"], f"{result['error']}\n{result['stderr']}"
    upload = result["upload"]["reply"]
    assert (upload["name"], upload["mime_type"], upload["size"]) == (
        "overlay.png",
        "image/png",
        png.stat().st_size,
    )
    assert result["command"]["reply"] == {
        "type": "overlay_set",
        "data": {"width": 40, "height": 30},
    }
