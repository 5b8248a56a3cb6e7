"""`Mp4Writer`: paced frames to an H.264 + AAC MP4, encoded on a thread of its own.

It is the sink of `reactor render`. Frames arrive on the pacer's loop and are
only queued there; conversion and encoding happen on the writer's thread, so
the pacer never waits on the encoder.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .media.frames import CLOCK_RATE, PacedFrame

TIME_BASE = Fraction(1, CLOCK_RATE)


class RenderError(Exception):
    """A render that could not complete (the model emitted nothing, encoding failed)."""


class Mp4Writer:
    """Encodes paced frames (H.264 + AAC) to an MP4 on a thread of its own.

    One video track and one audio track are written. Video frames keep their
    pts (48 kHz ticks); a size change is scaled back to the first size. Audio
    is written contiguously: gaps before a frame's pts become silence.
    Everything at or after `end_ticks` is cut.
    """

    def __init__(
        self,
        path: str | Path,
        video_track: str | None,
        audio_track: str | None,
        audio_channels: int,
        fps: float,
        end_ticks: int,
    ) -> None:
        """Prepare to write `path`; nothing is opened before the first frame."""
        self.path = Path(path)
        self.video_track, self.audio_track = video_track, audio_track
        self.audio_channels, self.fps, self.end_ticks = audio_channels, fps, end_ticks
        self.video_frames = 0
        self.audio_samples = 0
        self.encode_seconds = 0.0
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[PacedFrame | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="render-encoder", daemon=True)
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._size = (0, 0)
        self._pending: list[PacedFrame] = []
        self._written_end = 0
        self._complete = True

    @property
    def encode_ms_per_frame(self) -> float:
        """Mean encode time (conversion, video and audio) per paced frame."""
        return 1000 * self.encode_seconds / max(1, self.video_frames)

    def start(self) -> None:
        """Start the encoder thread."""
        self._thread.start()

    def submit(self, frame: PacedFrame) -> None:
        """Queue one frame; cheap enough for the pacer's loop."""
        self._queue.put(frame)

    async def close(self, complete: bool = True) -> None:
        """Encode what is queued, finish the file.

        With `complete`, audio is padded with silence up to the end; otherwise (an
        interrupted render) the file ends with the last frame written.

        Raises:
            RenderError: encoding failed, or the model emitted no media at all.
        """
        self._complete = complete
        self._queue.put(None)
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)
        if self.error is not None:
            raise RenderError(f"writing {self.path} failed: {self.error}") from self.error

    def _work(self) -> None:
        closing = False
        try:
            while (frame := self._queue.get()) is not None:
                if frame.pts < self.end_ticks:
                    started = time.perf_counter()
                    self._write(frame)
                    self.encode_seconds += time.perf_counter() - started
                    self._written_end = frame.pts + frame.duration
            closing = True
            self._finish()
        except BaseException as exc:
            self.error = exc
            # Drop what still comes until close(), so a failed writer never blocks the render.
            while not closing and self._queue.get() is not None:
                pass
        finally:
            if self._container is not None:
                self._container.close()

    def _open(self, first_image: np.ndarray | None) -> None:
        container = av.open(str(self.path), "w", format="mp4")
        self._container = container
        if self.video_track is not None and first_image is not None:
            # yuv420p needs even sizes; an odd edge loses one pixel row/column.
            height = max(2, first_image.shape[0] // 2 * 2)
            width = max(2, first_image.shape[1] // 2 * 2)
            rate = Fraction(self.fps).limit_denominator(1001)
            stream = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.time_base = TIME_BASE
            self._video, self._size = stream, (width, height)
        if self.audio_track is not None:
            layout = "mono" if self.audio_channels == 1 else "stereo"
            self._audio = container.add_stream("aac", rate=CLOCK_RATE, layout=layout)

    def _write(self, frame: PacedFrame) -> None:
        image = frame.video.get(self.video_track) if self.video_track else None
        if self._container is None:
            if image is None and self.video_track is not None:
                # The file's size comes from the first picture: hold audio until one arrives.
                self._pending.append(frame)
                return
            self._open(image)
            for held in self._pending:
                self._write_audio(held)
            self._pending.clear()
        if image is not None and self._video is not None:
            picture = av.VideoFrame.from_ndarray(image, format="rgb24")
            width, height = self._size
            picture = picture.reformat(width=width, height=height, format="yuv420p")
            picture.pts, picture.time_base = frame.pts, TIME_BASE
            self._container.mux(self._video.encode(picture))
            self.video_frames += 1
        self._write_audio(frame)

    def _write_audio(self, frame: PacedFrame) -> None:
        if self._audio is None or self.audio_track is None:
            return
        samples = frame.audio.get(self.audio_track)
        if samples is None:
            return
        start = frame.pts
        if start > self.audio_samples:
            self._pad_audio(start)
        elif start < self.audio_samples:
            samples, start = samples[:, self.audio_samples - start :], self.audio_samples
        self._encode_audio(samples[:, : max(0, self.end_ticks - start)])

    def _pad_audio(self, until: int) -> None:
        while self.audio_samples < until:
            count = min(until - self.audio_samples, CLOCK_RATE)
            self._encode_audio(np.zeros((self.audio_channels, count), dtype=np.int16))

    def _encode_audio(self, samples: np.ndarray) -> None:
        if samples.shape[1] == 0:
            return
        # Packed s16 wants one plane of interleaved samples.
        interleaved = np.ascontiguousarray(samples.T).reshape(1, -1)
        layout = "mono" if self.audio_channels == 1 else "stereo"
        chunk = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        chunk.sample_rate, chunk.pts, chunk.time_base = CLOCK_RATE, self.audio_samples, TIME_BASE
        self._container.mux(self._audio.encode(chunk))
        self.audio_samples += samples.shape[1]

    def _finish(self) -> None:
        if self._container is None:
            if not self._pending:
                raise RenderError("the model emitted no media before the end of the render")
            self._open(None)
            if self._audio is None:
                raise RenderError("the model emitted no picture before the end of the render")
            for held in self._pending:
                self._write_audio(held)
        if self._audio is not None:
            self._pad_audio(self.end_ticks if self._complete else self._written_end)
        for stream in (self._video, self._audio):
            if stream is not None:
                self._container.mux(stream.encode(None))
