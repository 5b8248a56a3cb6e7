"""The official Python SDK tags the frames it publishes and reads the tags of those it gets.

Run inside the test's network namespace::

    python py_sdk_metadata.py --url http://10.77.0.1:8080 --seconds 3

Connects in local mode, publishes `webcam` frames pushed with
``user_data=b"tag-N"`` and ``capture_time_us=1_000_000 + N * 33_333``, keeps what
`main_video`'s ``on_frame(frame, frame_id, timestamp_us, user_data)`` reports and the
model's messages, and prints ONE JSON line: ``{"ok", "error", "frames": [[frame_id,
timestamp_us, user_data as text, mean level], ...], "messages": [...]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading

FPS = 30


async def run(url: str, seconds: float, doc: dict) -> None:
    """Connect, publish tagged frames for `seconds`, collect, disconnect."""
    import numpy as np
    from reactor_sdk import Reactor

    reactor = Reactor("local", local=True, api_url=url)
    lock = threading.Lock()

    def on_track(track) -> None:
        if track.name == "main_video":

            @track.on_frame
            def tagged(frame, frame_id, timestamp_us, user_data) -> None:
                text = bytes(user_data or b"").decode(errors="replace")
                with lock:
                    doc["frames"].append([frame_id, timestamp_us, text, round(float(frame.mean()))])

    reactor.on_track(on_track)
    reactor.on("message", lambda m: doc["messages"].append(m))
    try:
        await asyncio.wait_for(reactor.connect(), 30)
        webcam = reactor.track("webcam")
        await asyncio.wait_for(webcam.publish(), 12)
        picture = np.zeros((120, 160, 3), np.uint8)
        for n in range(int(seconds * FPS)):
            picture[..., 0] = n * 8 % 256
            webcam.push_frame(
                picture, user_data=b"tag-%d" % n, capture_time_us=1_000_000 + n * 33_333
            )
            await asyncio.sleep(1 / FPS)
        await asyncio.sleep(0.5)
        doc["ok"] = True
    finally:
        await asyncio.wait_for(reactor.disconnect(), 12)
        reactor.close()


def main() -> None:
    """Run and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    opts = parser.parse_args()
    out_fd = os.dup(1)
    os.dup2(2, 1)  # only our JSON line may reach the real stdout
    doc: dict = {"ok": False, "error": None, "frames": [], "messages": []}
    try:
        asyncio.run(asyncio.wait_for(run(opts.url, opts.seconds, doc), 60))
    except Exception as exc:
        doc["error"] = f"{type(exc).__name__}: {exc}"
    os.write(out_fd, (json.dumps(doc, default=repr) + "\n").encode())
    sys.stderr.flush()
    os._exit(0 if doc["ok"] else 1)  # skip atexit: the SDK's teardown can block


if __name__ == "__main__":
    main()
