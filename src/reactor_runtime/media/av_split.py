"""Split one emit (a batch of N video frames and its audio) into N frames."""

from __future__ import annotations

import numpy as np

from .frames import Frame


def split_emit(
    video: dict[str, np.ndarray],
    audio: dict[str, np.ndarray],
    *,
    emit_seq: int = 0,
    produced_at: float = 0.0,
    metadata: dict[str, list[bytes]] | None = None,
) -> list[Frame]:
    """Cut a validated emit into frames.

    Video arrays are `(N, H, W, 3)` with one N for all tracks; audio arrays are
    `(channels, S)` at 48 kHz. Frame k gets samples `[S*k//N, S*(k+1)//N)` of
    each audio track, so the slices tile the input exactly: no sample is lost
    or duplicated, and slice lengths differ by at most one sample. An emit with
    no video is one frame carrying all its audio. `metadata` gives video
    tracks one encoded value per frame; frame k carries entry k.

    Raises:
        ValueError: video tracks disagree on the batch size.
    """
    sizes = {name: arr.shape[0] for name, arr in video.items()}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"'{k}': {v}" for k, v in sizes.items())
        raise ValueError(f"video tracks of one emit must have the same batch size N, got {detail}")
    n = next(iter(sizes.values()), 1)
    frames = []
    for k in range(n):
        cut = {}
        for name, samples in audio.items():
            total = samples.shape[1]
            cut[name] = samples[:, total * k // n : total * (k + 1) // n]
        frames.append(
            Frame(
                video={name: arr[k] for name, arr in video.items()},
                audio=cut,
                emit_seq=emit_seq,
                produced_at=produced_at,
                metadata={name: values[k] for name, values in (metadata or {}).items()},
            )
        )
    return frames
