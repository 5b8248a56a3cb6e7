"""Prometheus metrics of a runtime, read live from the session's counters at scrape time."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .counters import LimitCounter
from .limits import Limits
from .table import REAP_REASONS

if TYPE_CHECKING:
    from .runtime import Runtime

LIMIT_NAMES = (
    "max_connections",
    *(f.name for f in dataclasses.fields(Limits) if f.name.startswith("max_")),
)
"""The limits whose refusals are counted, listed at zero before the first one."""


class RuntimeCollector(Collector):
    """Yields the runtime's metrics from its live state on every scrape."""

    def __init__(self, runtime: Runtime) -> None:
        """Collect from `runtime`."""
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        """One sample per metric, read now."""
        runtime = self.runtime
        stats = runtime.session.stats()

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"reactor_{name}", doc, value=value)

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"reactor_{name}", doc, value=value)

        yield counter(
            "frames_emitted", "Frames the model queued for playback.", stats["emitted_frames"]
        )
        yield counter(
            "frames_sent", "Frames released to viewers by the pacer.", stats["sent_frames"]
        )
        dropped = CounterMetricFamily(
            "reactor_frames_dropped", "Frames that never played, by reason.", labels=["reason"]
        )
        for reason, key in (
            ("drop", "dropped_frames"),
            ("flush", "flushed_frames"),
            ("no_viewer", "discarded_frames"),
        ):
            dropped.add_metric([reason], stats[key])
        yield dropped
        yield counter("underruns", "Times the pacer found no frame ready.", stats["underruns"])
        yield counter(
            "schedule_advances",
            "Times the pacer moved its schedule earlier to meet a self-paced model.",
            stats["advances"],
        )
        yield gauge("buffer_depth", "Frames waiting in the output buffer.", stats["buffer_depth"])
        yield gauge("fps_playing", "Current playback rate.", stats["fps_playing"])
        yield gauge("viewers", "Connected viewers.", stats["viewers"])
        yield gauge(
            "connections", "Signalling connections of the session.", runtime.connection_count
        )
        yield gauge("model_loaded", "1 once the model is loaded.", 1 if runtime.loaded else 0)
        yield counter("run_failures", "Times the model's run() raised.", stats["run_failures"])
        yield counter("messages_sent", "Model messages sent to viewers.", stats["messages_sent"])
        yield counter("sessions_started", "Sessions started.", runtime.sessions_started)
        yield counter("commands", "Commands dispatched to the model.", runtime.commands.total)
        errors = CounterMetricFamily(
            "reactor_command_errors", "Commands that failed, by error code.", labels=["code"]
        )
        for code, count in sorted(runtime.commands.errors.items()):
            errors.add_metric([code], count)
        yield errors
        yield from limit_metrics(runtime.limit_counts)
        uploads = runtime.session.uploads.stats()
        yield gauge("uploads", "Uploaded files the session holds on disk.", uploads["uploads"])
        yield gauge("upload_bytes", "Bytes announced by the session's uploads.", uploads["bytes"])
        yield counter("uploads_completed", "Uploads whose bytes all arrived.", uploads["completed"])
        yield counter(
            "uploads_unresolved",
            "Commands and notices naming an upload that was unknown or never written.",
            uploads["unresolved"],
        )
        channels = getattr(runtime, "channel_counters", None)
        if channels is not None:
            yield from datachannel_metrics(channels)
        hub_stats = getattr(runtime.hub, "stats", None)
        if callable(hub_stats):
            yield from media_metrics(hub_stats())


def limit_metrics(counts: LimitCounter) -> Iterator[Metric]:
    """Requests refused by each limit and connections reaped by each reason (zeros too)."""
    refused = CounterMetricFamily(
        "reactor_requests_refused", "Requests refused by a limit, by its name.", labels=["limit"]
    )
    for limit in sorted({*LIMIT_NAMES, *counts.refused}):
        refused.add_metric([limit], counts.refused[limit])
    yield refused
    reaped = CounterMetricFamily(
        "reactor_connections_reaped",
        "Connections closed for lack of an offer or of connectivity in time, by reason.",
        labels=["reason"],
    )
    for reason in sorted({*REAP_REASONS, *counts.reaped}):
        reaped.add_metric([reason], counts.reaped[reason])
    yield reaped


DATACHANNEL_REFUSALS = ("too_large", "rate_limited", "byte_rate_limited", "request_id_too_long")
DATACHANNEL_DROPS = (
    "unanswered",
    "unresolved_upload",
    "upload_notice_busy",
    "error_reply_rate",
    "outbound_backlog",
    "sctp_backlog",
    "sctp_rate",
)


def datachannel_metrics(counters: Any) -> Iterator[Metric]:
    """What viewers' data channels refused and dropped (`transport.limits.ChannelCounters`)."""
    refused = CounterMetricFamily(
        "reactor_datachannel_refused",
        "Inbound data-channel messages refused before decoding, by the limit they broke.",
        labels=["reason"],
    )
    for reason in sorted({*DATACHANNEL_REFUSALS, *counters.refused}):
        refused.add_metric([reason], counters.refused[reason])
    yield refused
    dropped = CounterMetricFamily(
        "reactor_datachannel_dropped",
        "Data-channel messages, replies or SCTP chunks dropped, by reason.",
        labels=["reason"],
    )
    for reason in sorted({*DATACHANNEL_DROPS, *counters.dropped}):
        dropped.add_metric([reason], counters.dropped[reason])
    yield dropped
    yield CounterMetricFamily(
        "reactor_datachannel_malformed",
        "Inbound data-channel messages that could not be decoded.",
        value=counters.malformed,
    )
    yield CounterMetricFamily(
        "reactor_datachannel_received",
        "Inbound data-channel messages, refused ones included.",
        value=counters.received,
    )


def media_metrics(media: dict[str, Any]) -> Iterator[Metric]:
    """The hub's per-track encoder counters (`MediaHub.stats()`) as metric families."""
    video = media.get("video", {})
    audio = media.get("audio", {})

    def per_track(name: str, doc: str, source: dict[str, Any], key: str) -> Metric:
        family = CounterMetricFamily(f"reactor_{name}", doc, labels=["track"])
        for track, stats in sorted(source.items()):
            family.add_metric([track], stats[key])
        return family

    def per_codec(name: str, doc: str, key: str) -> Metric:
        family = CounterMetricFamily(f"reactor_{name}", doc, labels=["track", "codec"])
        for track, stats in sorted(video.items()):
            for codec, value in sorted(stats[key].items()):
                family.add_metric([track, codec], value)
        return family

    yield per_track(
        "video_pictures_encoded", "Pictures converted once and encoded.", video, "encoded"
    )
    yield per_track(
        "video_pictures_skipped",
        "Pictures replaced by a newer one while the encoder was busy.",
        video,
        "skipped",
    )
    yield per_codec("video_encoded_bytes", "Encoded video bytes, once per codec.", "bytes")
    yield per_codec("video_keyframes", "Keyframes encoded, per codec.", "keyframes")
    yield per_codec("video_low_keyframes", "Keyframes of low streams, per codec.", "low_keyframes")
    timing = GaugeMetricFamily(
        "reactor_video_picture_ms",
        "Mean per-picture time of a video track, by step.",
        labels=["track", "step"],
    )
    for track, stats in sorted(video.items()):
        timing.add_metric([track, "convert"], stats["convert_ms"])
        timing.add_metric([track, "encode"], stats["encode_ms"])
        timing.add_metric([track, "encode_low"], stats["low_encode_ms"])
    yield timing
    yield per_track("audio_packets", "Opus packets encoded.", audio, "packets")
    yield per_track(
        "audio_silence_samples",
        "48 kHz samples of silence sent for lack of model audio.",
        audio,
        "silence_samples",
    )
    subscribers = GaugeMetricFamily(
        "reactor_track_subscribers", "Viewer tracks fed, per track and codec.", labels=["track"]
    )
    for track, count in sorted(media.get("subscribers", {}).items()):
        subscribers.add_metric([track], count)
    yield subscribers
    yield from rate_metrics(media)


def rate_metrics(media: dict[str, Any]) -> Iterator[Metric]:
    """Video rate control and loss recovery (`MediaHub.stats()`, `transport.rate_control`)."""
    video = media.get("video", {})

    def per_codec(family: Any, key: str) -> Metric:
        for track, stats in sorted(video.items()):
            for codec, value in sorted(stats.get(key, {}).items()):
                if value is not None:
                    family.add_metric([track, codec], value)
        return family

    labels = ["track", "codec"]
    yield per_codec(
        GaugeMetricFamily(
            "reactor_video_bitrate", "Rate a video encoder works to, bit/s.", labels=labels
        ),
        "bitrate",
    )
    yield per_codec(
        CounterMetricFamily(
            "reactor_video_rate_changes",
            "Encoder rate changes, applied in place (never with a keyframe).",
            labels=labels,
        ),
        "rate_changes",
    )
    yield per_codec(
        CounterMetricFamily(
            "reactor_video_keyframe_requests",
            "Keyframes asked of an encoder (viewers joining, PLI/FIR, overflows).",
            labels=labels,
        ),
        "keyframe_requests",
    )
    yield per_codec(
        CounterMetricFamily(
            "reactor_video_keyframes_forced",
            "Keyframes made for those requests (pending requests share one).",
            labels=labels,
        ),
        "keyframes_forced",
    )
    yield per_codec(
        CounterMetricFamily(
            "reactor_video_ladder_steps",
            "Resolution ladder steps, each reopening the encoder at a new size (one keyframe).",
            labels=labels,
        ),
        "ladder_steps",
    )
    yield per_codec(
        GaugeMetricFamily(
            "reactor_video_scale",
            "Scale of the model's picture size a video stream is encoded at.",
            labels=labels,
        ),
        "scale",
    )
    lowest = GaugeMetricFamily(
        "reactor_video_viewer_estimate_min",
        "Lowest viewer rate estimate (REMB, loss) of a stream, bit/s.",
        labels=labels,
    )
    for track, stats in sorted(video.items()):
        for codec, rate in sorted(stats.get("rate", {}).items()):
            if rate.get("lowest_estimate") is not None:
                lowest.add_metric([track, codec], rate["lowest_estimate"])
    yield lowest
    base_only = GaugeMetricFamily(
        "reactor_video_base_layer_viewers",
        "Viewers of a layered VP8 stream sent its base layer only (far slower than the rest).",
        labels=labels,
    )
    switches = CounterMetricFamily(
        "reactor_video_layer_switches",
        "Viewers switched down (to the low stream or base layer) or back up to the main one.",
        labels=[*labels, "direction"],
    )
    for track, stats in sorted(video.items()):
        for codec, layers in sorted(stats.get("layers", {}).items()):
            base_only.add_metric([track, codec], layers["base_layer_only"])
            for direction in ("down", "up"):
                switches.add_metric([track, codec, direction], layers[f"switches_{direction}"])
    yield base_only
    yield switches
    loss = media.get("loss", {})
    for key, doc in (
        ("nacked", "Packets viewers reported lost (NACK)."),
        ("retransmitted", "NACKed packets resent."),
        ("missed", "NACKed packets no longer in the retransmission history (not resent)."),
        ("throttled", "NACKed packets resent less than a round trip before (not resent)."),
        (
            "unanswered",
            "NACKed packets past the resend budget (a keyframe asked for instead) or sent "
            "before the keyframe that ended such a burst (not resent).",
        ),
        ("keyframe_requests", "PLI and FIR received from viewers."),
        ("rembs", "REMB bandwidth estimates received from viewers."),
        ("transport_feedbacks", "Transport-cc feedback packets received from viewers."),
        ("probe_packets", "Packets sent to probe viewers' paths for more bandwidth."),
    ):
        yield CounterMetricFamily(f"reactor_rtp_{key}", doc, value=loss.get(key, 0))
    metadata = CounterMetricFamily(
        "reactor_frame_metadata",
        "Per-frame metadata: trailers sent to and received from viewers, frameMetadata "
        "messages sent, and what was dropped, by event.",
        labels=["event"],
    )
    for event, count in media.get("frame_metadata", {}).items():
        metadata.add_metric([event], count)
    yield metadata


def metrics_text(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text exposition format."""
    return generate_latest(registry)


def registry_for(runtime: Runtime) -> CollectorRegistry:
    """A registry of its own per runtime (tests run several in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime))
    return registry


def health_report(runtime: Runtime) -> dict[str, Any]:
    """What `/health` reports: state, viewers, uptime, model, counters, media."""
    status = "error" if runtime.load_error else "ok" if runtime.loaded else "loading"
    hub_stats = getattr(runtime.hub, "stats", None)
    try:
        media = hub_stats() if callable(hub_stats) else None
    except Exception as exc:
        # Health must answer even when a component's counters cannot be read.
        media = {"error": repr(exc)}
    return {
        "status": status,
        "state": runtime.state,
        "session_id": runtime.session_id,
        "viewers": len(runtime.session.viewers),
        "connections": runtime.connection_count,
        "uptime_s": round(time.monotonic() - runtime.started_at, 3),
        "model": {
            "name": runtime.model_name,
            "version": runtime.model_version,
            "loaded": runtime.loaded,
            "error": runtime.load_error,
        },
        "sessions_started": runtime.sessions_started,
        "commands": runtime.commands.as_dict(),
        "datachannels": getattr(runtime.channel_counters, "as_dict", dict)(),
        "limits": runtime.limit_counts.as_dict(),
        "stats": runtime.session.stats(),
        "media": media,
    }
