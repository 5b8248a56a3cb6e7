"""A viewer's inbound tracks: aiortc's decoded frames into the session's input buffers.

`InputReader` reads one client-sent track and pushes its frames, converted to what
the model declared (RGB pictures; int16 samples at the track's sample rate), into the
session's input buffer; one viewer at a time holds each input track.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..media.input_buffer import InputFrame
from ..media.resample import StreamResampler
from .encoders import AUDIO_RATE

if TYPE_CHECKING:
    from ..session import Session
    from .hub import MediaHub
    from .trailer_reader import TrailerReader

log = logging.getLogger(__name__)


class InputReader:
    """Read one client-sent track and push its frames into the session's input buffer.

    The first frame opens the buffer (`reset`) and claims the track for this viewer; a
    track another viewer holds is read and discarded. The end of the track closes it.
    """

    def __init__(
        self,
        session: Session,
        hub: MediaHub,
        viewer_id: str,
        name: str,
        track: MediaStreamTrack,
        channels: int = 1,
        trailers: TrailerReader | None = None,
    ) -> None:
        """Read `track` into input track `name` (audio converted to `channels`).

        Audio arrives at 48 kHz (Opus); an input track declaring another `sample_rate`
        gets its samples at that rate (resampled per stream, so chunks join without
        a click). `trailers` reads the frame-metadata trailers of a video track whose
        viewer declared them: each frame's capture time and metadata go with it.
        """
        self.session = session
        self.hub = hub
        self.viewer_id = viewer_id
        self.name = name
        self.track = track
        self.channels = channels
        self.trailers = trailers
        self.frames = 0
        self.refused = 0
        self.open = False
        self._resampler: av.AudioResampler | None = None
        spec = next((t for t in session.input_tracks if t.name == name), None)
        rate = getattr(spec.type, "sample_rate", AUDIO_RATE) if spec else AUDIO_RATE
        self.sample_rate: int = rate
        self._to_declared = (
            StreamResampler(AUDIO_RATE, channels, rate) if rate != AUDIO_RATE else None
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading (on the server loop)."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"input:{self.viewer_id}:{self.name}"
        )

    async def stop(self) -> None:
        """Stop reading and close the input if this viewer fed it."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.release()

    def release(self) -> None:
        """Close the input buffer and free the track if this viewer holds it."""
        if self.hub.release_input(self.name, self.viewer_id) or self.open:
            self.session.inputs[self.name].close()
        self.open = False

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await self.track.recv()
                arrived = time.monotonic()
                if not self.hub.claim_input(self.name, self.viewer_id):
                    self.refused += 1
                    if self.refused == 1:
                        log.info(
                            "viewer %s: input %r is held by viewer %s; its frames are dropped",
                            self.viewer_id,
                            self.name,
                            self.hub.input_owner(self.name),
                        )
                    continue
                if not self.open:
                    self.session.inputs[self.name].reset()
                    self.open = True
                if isinstance(frame, av.VideoFrame):
                    # ~1-3 ms per 640x480 picture: keep it off the loop.
                    data = await loop.run_in_executor(None, _to_rgb, frame)
                else:
                    data = self._to_samples(frame)
                    if data is None:
                        continue
                pts = float(frame.pts * frame.time_base) if frame.pts is not None else None
                meta = self.trailers.take(frame.pts) if self.trailers is not None else None
                self.session.push_input(
                    self.name,
                    InputFrame(
                        data,
                        pts,
                        arrived_at=arrived,
                        metadata=meta.user_data if meta else None,
                        capture_time_us=meta.capture_time_us if meta else None,
                    ),
                )
                self.frames += 1
        except MediaStreamError:
            log.debug("viewer %s: input %r ended", self.viewer_id, self.name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("viewer %s: reading input %r failed", self.viewer_id, self.name)
        finally:
            self.release()

    def _to_samples(self, frame: av.AudioFrame) -> np.ndarray | None:
        if self._resampler is None:
            layout = "mono" if self.channels == 1 else "stereo"
            self._resampler = av.AudioResampler(format="s16p", layout=layout, rate=AUDIO_RATE)
        arrays = [f.to_ndarray() for f in self._resampler.resample(frame)]
        if not arrays:
            return None
        samples = np.ascontiguousarray(np.concatenate(arrays, axis=1), dtype=np.int16)
        if self._to_declared is not None:
            samples = self._to_declared.process(samples)
        return samples if samples.shape[1] else None


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")
