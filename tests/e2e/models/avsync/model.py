"""A/V sync test model: a white flash and an audio click at the same media time, once a second.

Emits batches of 3 frames (as the seed's playback model does), black and silent except
once a second: the flash starts on the batch's *second* frame and lasts 3 frames, and
the click (5 ms of 2 kHz at -3 dBFS) starts with that frame's audio, so the runtime's
split of a batch's audio across its frames is part of what is measured.

The audio track is picked by the `AVSYNC_AUDIO` environment variable, because a
model's output tracks are declared on its class: `mono` (48 kHz, the default), `16k`
(a 16 kHz track the runtime resamples) or `stereo` (48 kHz, the click in both channels).
"""

import os

import numpy as np

from reactor_runtime import Audio, Output, ReactorModel, Video

WIDTH, HEIGHT = 320, 240
BATCH = 3
FPS = 30
EMITS_PER_SECOND = FPS // BATCH
FLASH_FRAMES = 3


class Audio16k(Audio):
    sample_rate = 16_000


class AudioStereo(Audio):
    channels = 2


AUDIO_TYPES: dict[str, type[Audio]] = {"mono": Audio, "16k": Audio16k, "stereo": AudioStereo}
VARIANT = os.environ.get("AVSYNC_AUDIO", "mono")
if VARIANT not in AUDIO_TYPES:
    raise ValueError(f"AVSYNC_AUDIO must be one of {sorted(AUDIO_TYPES)}, got {VARIANT!r}")
AudioTrack = AUDIO_TYPES[VARIANT]


class AvSyncOutput(Output):
    main_video: Video
    main_audio: AudioTrack  # type: ignore[valid-type]


def click(rate: int, channels: int) -> np.ndarray:
    """5 ms of a 2 kHz sine at -3 dBFS, starting at phase 0: a sharp, codec-proof onset."""
    t = np.arange(rate // 200) / rate
    wave = (np.sin(2 * np.pi * 2000 * t) * 23_000).astype(np.int16)
    return np.repeat(wave[np.newaxis], channels, axis=0)


class AvSync(ReactorModel):
    fps = FPS
    output_type = AvSyncOutput

    def load(self, config: dict) -> None:
        self.rate = AudioTrack.sample_rate
        self.channels = AudioTrack.channels
        self.click = click(self.rate, self.channels)
        self.emits = 0
        # Batch audio: 3 frames' worth; at 16 kHz a frame is 533.3 samples, so 1600 per batch.
        self.batch_samples = self.rate * BATCH // FPS
        # The flash frame (index 1) starts 1/30 s into the batch.
        self.click_at = round(self.rate / FPS)

    async def run(self) -> None:
        while True:
            await self.connected.wait()
            video = np.zeros((BATCH, HEIGHT, WIDTH, 3), dtype=np.uint8)
            audio = np.zeros((self.channels, self.batch_samples), dtype=np.int16)
            step = self.emits % EMITS_PER_SECOND
            if step == 0:
                video[1:] = 255
                audio[:, self.click_at : self.click_at + self.click.shape[1]] = self.click
            elif step == 1:
                video[: 1 + FLASH_FRAMES - BATCH] = 255
            self.emits += 1
            await self.emit(AvSyncOutput(main_video=video, main_audio=audio))
