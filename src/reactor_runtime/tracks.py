"""Track declarations (`Output`, `Input`, `Video`, `Audio`) and payload validation.

A model declares its tracks as the fields of a dataclass: the field name is the
track name, the field annotation (`Video`, `Audio` or a subclass) is its kind.
Payloads are validated here, before anything reaches the media engine, so that a
wrong shape or dtype fails in `emit()` with a message naming the track.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

TRANSPORT_SAMPLE_RATE = 48_000
"""Sample rate of every audio track on the wire (Opus)."""


class Track:
    """Base of track kinds. Subclass `Video` or `Audio`, never this directly."""

    kind: ClassVar[Literal["video", "audio"]]


class Video(Track):
    """A video track: `uint8` RGB frames `(H, W, 3)` or a batch `(N, H, W, 3)`.

    Payloads may be numpy arrays or any CPU array exposing `__array__` or DLPack
    (a torch tensor on the CPU). The frame size may change between emits.
    """

    kind: ClassVar[Literal["video", "audio"]] = "video"

    @classmethod
    def validate(cls, track: str, payload: Any) -> np.ndarray:
        """Return the payload as a contiguous `(N, H, W, 3)` uint8 array.

        Raises:
            TypeError: the payload is not an array, or its dtype is not uint8.
            ValueError: the shape is not `(H, W, 3)` or `(N, H, W, 3)`, or empty.
        """
        array = as_array(track, payload)
        if array.dtype != np.uint8:
            raise TypeError(
                f"track '{track}': expected video dtype uint8 (RGB 0-255), got {array.dtype}"
            )
        if array.ndim == 3:
            array = array[np.newaxis]
        if array.ndim != 4 or array.shape[-1] != 3:
            raise ValueError(
                f"track '{track}': expected video shape (H, W, 3) or (N, H, W, 3), "
                f"got {tuple(np.shape(payload))}"
            )
        n, h, w, _ = array.shape
        if n == 0 or h == 0 or w == 0:
            raise ValueError(f"track '{track}': video shape {array.shape} is empty")
        return np.ascontiguousarray(array)


class Audio(Track):
    """An audio track: `int16` samples shaped `(channels, samples)`.

    Class attributes `sample_rate` (default 48 000) and `channels` (default 1)
    describe what the model emits; subclass to change them. Other rates are
    resampled to 48 kHz for transport. float32/float64 payloads in [-1, 1] are
    accepted and converted to int16. On an input track, `buffer_seconds` (3.x)
    bounds its buffer by seconds of audio instead of frames.
    """

    kind: ClassVar[Literal["video", "audio"]] = "audio"
    sample_rate: ClassVar[int] = TRANSPORT_SAMPLE_RATE
    channels: ClassVar[int] = 1
    buffer_seconds: ClassVar[float | None] = None

    @classmethod
    def validate(cls, track: str, payload: Any) -> np.ndarray:
        """Return the payload as a contiguous `(channels, samples)` int16 array.

        A 1-D array is taken as mono samples when the track is mono.

        Raises:
            TypeError: the payload is not an array or has an unsupported dtype.
            ValueError: the shape or channel count does not match the declaration.
        """
        array = as_array(track, payload)
        if array.ndim == 1 and cls.channels == 1:
            array = array[np.newaxis]
        if array.ndim != 2:
            raise ValueError(
                f"track '{track}': expected audio shape (channels, samples) = "
                f"({cls.channels}, N), got {tuple(array.shape)}"
            )
        if array.shape[0] != cls.channels:
            hint = (
                " (did you pass (samples, channels)? transpose it)"
                if (array.shape[1] == cls.channels)
                else ""
            )
            raise ValueError(
                f"track '{track}': expected {cls.channels} channel(s), shape "
                f"({cls.channels}, N), got {tuple(array.shape)}{hint}"
            )
        if array.dtype == np.int16:
            return np.ascontiguousarray(array)
        if array.dtype in (np.float32, np.float64):
            clipped = np.clip(array, -1.0, 1.0)
            return np.ascontiguousarray(np.round(clipped * 32767.0).astype(np.int16))
        raise TypeError(
            f"track '{track}': expected audio dtype int16 (or float32 in [-1, 1]), "
            f"got {array.dtype}"
        )


def as_array(track: str, payload: Any) -> np.ndarray:
    """Turn numpy arrays, `__array__` objects or DLPack CPU tensors into numpy."""
    if isinstance(payload, np.ndarray):
        return payload
    if hasattr(payload, "__array__"):
        try:
            return np.asarray(payload)
        except Exception as exc:  # a GPU tensor refuses __array__
            raise TypeError(
                f"track '{track}': could not read {type(payload).__name__} as a CPU array "
                f"({exc}); move it to the CPU first"
            ) from exc
    if hasattr(payload, "__dlpack__"):
        try:
            return np.from_dlpack(payload)
        except Exception as exc:
            raise TypeError(
                f"track '{track}': could not read {type(payload).__name__} through DLPack "
                f"({exc}); move it to the CPU first"
            ) from exc
    raise TypeError(
        f"track '{track}': expected a numpy array (or an object with __array__), "
        f"got {type(payload).__name__}"
    )


@dataclass(frozen=True)
class TrackSpec:
    """One declared track: its name (the dataclass field) and its kind class."""

    name: str
    type: type[Track]

    @property
    def kind(self) -> Literal["video", "audio"]:
        """`"video"` or `"audio"`."""
        return self.type.kind


class _TrackSet:
    """Shared behaviour of `Output` and `Input`: fields are tracks."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__dataclass_fields__" not in cls.__dict__:
            dataclass(cls)

    @classmethod
    def tracks(cls) -> list[TrackSpec]:
        """The declared tracks, in field order.

        Raises:
            TypeError: a field is not annotated with `Video`, `Audio` or a subclass.
        """
        hints = typing.get_type_hints(cls)
        specs = []
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            kind = _track_type(hints.get(field.name))
            if kind is None:
                raise TypeError(
                    f"{cls.__name__}.{field.name}: expected a Video or Audio annotation, "
                    f"got {hints.get(field.name)!r}"
                )
            specs.append(TrackSpec(field.name, kind))
        return specs


def _track_type(annotation: Any) -> type[Track] | None:
    if isinstance(annotation, type) and issubclass(annotation, Track):
        return annotation
    # `Video | None` and `Optional[Audio]` declare the same track.
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, Track):
            return arg
    return None


def merge_tracks(classes: Iterable[type[_TrackSet]]) -> list[TrackSpec]:
    """The tracks of several `Output` (or `Input`) classes, as one list in declaration order.

    A track several classes declare with one kind is one track.

    Raises:
        TypeError: two classes declare one track name with different kinds.
    """
    merged: dict[str, tuple[TrackSpec, str]] = {}
    for cls in classes:
        for spec in cls.tracks():
            seen = merged.get(spec.name)
            if seen is None:
                merged[spec.name] = (spec, cls.__name__)
            elif seen[0].type is not spec.type:
                raise TypeError(
                    f"track '{spec.name}': declared as {seen[0].type.__name__} in {seen[1]} "
                    f"and as {spec.type.__name__} in {cls.__name__}; one name is one track"
                )
    return [spec for spec, _ in merged.values()]


Metadata = dict[str, Any] | bytes
"""One video frame's metadata: a JSON-serialisable mapping, or bytes encoded by the model."""

MAX_FRAME_METADATA = 16 * 1024
"""Bytes of metadata one video frame may carry once encoded. It rides inside the frame's
RTP packets (16 KiB is ~13 more packets, ~4 Mbit/s at 30 fps) and, base64-encoded, in
one data-channel message to our page, which must stay under 256 KiB."""


def frame_metadata_limit(limit: Any) -> int:
    """`limit` as a per-frame metadata limit (`MAX_FRAME_METADATA`'s replacement).

    Raises:
        ValueError: `limit` is not an integer >= 1 (names `max_frame_metadata`).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"max_frame_metadata: expected bytes >= 1, got {limit!r}")
    return limit


@dataclass(frozen=True, eq=False)
class TrackPayload:
    """A track's payload with the metadata to send along with its frame(s).

    Use it in place of the array: `MyOutput(main_video=TrackPayload(frame, metadata={...}))`.
    `metadata` is one value for one frame, or a list with one value per frame
    of a batch; a mapping travels as JSON, bytes as they are. Only video
    frames carry metadata, at most `MAX_FRAME_METADATA` bytes each once encoded.
    `emit()` validates it and keeps it with each frame (counted in
    `frame_metadata`); viewers get it with that frame: the official Python SDK
    in the frame's trailer (`transport.frame_metadata`), our client as the
    decoded frame's `metadata`, our page as a `frameMetadata` runtime message.
    """

    data: Any
    metadata: Metadata | list[Metadata] | None = dataclasses.field(default=None, kw_only=True)

    def encode(
        self, track: str, kind: type[Track], frames: int, limit: int = MAX_FRAME_METADATA
    ) -> list[bytes] | None:
        """The metadata as one `bytes` per frame of a validated payload of `frames` frames.

        Raises:
            ValueError: the track is audio, a list does not match the batch, a
                mapping is not JSON-serialisable, or a value is over `limit` bytes.
            TypeError: a value is neither a mapping nor bytes.
        """
        if self.metadata is None:
            return None
        if not issubclass(kind, Video):
            raise ValueError(f"track '{track}': audio carries no frame metadata, got some")
        if not isinstance(self.metadata, list):
            if frames != 1:
                raise ValueError(
                    f"track '{track}': a batch of {frames} frame(s) takes a list of {frames} "
                    f"metadata values, got one {type(self.metadata).__name__}"
                )
            return [_encode_metadata(track, self.metadata, limit)]
        if len(self.metadata) != frames or np.ndim(self.data) != 4:
            raise ValueError(
                f"track '{track}': expected one metadata value per frame ({frames}, for a "
                f"(N, H, W, 3) batch), got a list of {len(self.metadata)}"
            )
        return [_encode_metadata(track, value, limit) for value in self.metadata]


def _encode_metadata(track: str, value: Any, limit: int) -> bytes:
    encoded = _to_bytes(track, value)
    if len(encoded) > limit:
        raise ValueError(
            f"track '{track}': frame metadata is {len(encoded)} bytes encoded, over the "
            f"limit of {limit} (MAX_FRAME_METADATA, reactor run --max-frame-metadata)"
        )
    return encoded


def _to_bytes(track: str, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, dict):
        raise TypeError(
            f"track '{track}': frame metadata must be a dict or bytes, got {type(value).__name__}"
        )
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"track '{track}': frame metadata is not JSON-serialisable ({exc})"
        ) from None


class Output(_TrackSet):
    """Base of a model's output: each dataclass field is a track sent to viewers.

    `@dataclass` is optional. A field may be `None` in one emit: that track is
    skipped for that emit (video shows its last frame; audio plays silence). A
    payload may be a `TrackPayload` carrying frame metadata. A model may declare
    several `Output` classes: their tracks are merged, and an emit of one of
    them skips the tracks it does not have.
    """


class Input(_TrackSet):
    """Base of a model's inputs: each field is a track the viewer sends (webcam, mic).

    Several `Input` classes on one model are merged like `Output` ones; a name
    may not be both an input and an output track.
    """
