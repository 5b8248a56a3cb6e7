"""The page shows each video frame's metadata with its frame, from `frameMetadata` messages.

`tests/e2e/models/frame_metadata` paints frame N gray `shade(N)` and tags it `{"n": N}`.
In the page, a `requestVideoFrameCallback` of the test's own reads each presented
frame's level and looks its RTP timestamp up in the page's metadata store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.netns import private_network
from web.viewer import SPARE_PORT, Viewer, launch, serve

MODEL = Path(__file__).resolve().parents[1] / "e2e" / "models" / "frame_metadata"


def shade(n: int) -> int:
    """The gray level the model paints frame `n` (its `shade`)."""
    return 40 + n * 4 % 160


RECORD = """async (count) => {
  const video = document.querySelector("#screens video");
  const canvas = document.createElement("canvas");
  const seen = [];
  await new Promise((done) => {
    const presented = (_now, frame) => {
      const entry = window.reactorPage.frameMetadata.get("main_video", frame.rtpTimestamp);
      if (entry && video.videoWidth) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        const context = canvas.getContext("2d", { willReadFrequently: true });
        context.drawImage(video, 0, 0);
        const { data } = context.getImageData(canvas.width / 4, canvas.height / 4, 8, 8);
        let sum = 0;
        for (let i = 0; i < data.length; i += 4) sum += data[i] + data[i + 1] + data[i + 2];
        seen.push({ text: entry.text, level: sum / (data.length / 4) / 3 });
      }
      if (seen.length >= count) done();
      else video.requestVideoFrameCallback(presented);
    };
    video.requestVideoFrameCallback(presented);
  });
  return seen;
}"""


@pytest.fixture(scope="module")
def tagged() -> Iterator[Viewer]:
    """A tab on `reactor run tests/e2e/models/frame_metadata`, inside a private network."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with private_network() as net:
        server = serve(net, str(MODEL))
        origins = [server.origin, f"http://{net.address}:{SPARE_PORT}"]
        with sync_api.sync_playwright() as pw:
            browser = launch(pw, net, origins)
            viewer = Viewer(browser, server)
            try:
                yield viewer
            finally:
                viewer.close()
                browser.close()
                server.stop()


def test_the_page_matches_each_frame_s_metadata_to_the_frame_it_came_with(tagged) -> None:
    tagged.open()
    seen = tagged.page.evaluate(RECORD, 15)
    for entry in seen:
        n = json.loads(entry["text"])["n"]
        assert abs(entry["level"] - shade(n)) <= 4, (n, entry)
    caption = tagged.wait_js(
        "document.querySelector('figcaption .frame-metadata')?.textContent.includes('\"n\":')"
    )
    assert caption
    assert not tagged.errors, tagged.errors
