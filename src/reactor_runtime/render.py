"""`reactor render`: run a model offline for a virtual viewer and write its A/V to an MP4.

The model runs exactly as it does when served: a `Session` paces its frames in
real time, a virtual viewer keeps `connected` set, scripted commands reach it
through `Session.dispatch` at their media times, scripted uploads reach its
upload store (`render_uploads`). The paced frames go to an
`Mp4Writer` (`render_mp4`), which encodes on a thread of its own so the pacer
never waits on the encoder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError, Project, load_project
from .events import CommandError
from .media.frames import CLOCK_RATE, PacedFrame
from .render_mp4 import Mp4Writer, RenderError
from .render_uploads import ScriptedUpload, ScriptUploads
from .session import ModelLoadError, Session

VIEWER = "render"
"""The id of the virtual viewer a render connects."""

EventListener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class ScriptedCommand:
    """One command of a render script: send `event(**args)` at media time `at` seconds."""

    at: float
    event: str
    args: dict[str, Any] = field(default_factory=dict)
    base: Path | None = field(default=None, compare=False)
    """Where the files its `{upload: path}` arguments name are read from (default: cwd)."""

    @classmethod
    def parse(cls, item: Any, where: str = "command", base: Path | None = None) -> ScriptedCommand:
        """Build from a mapping `{at: 2.0, event: pause, args: {}}`.

        Raises:
            ConfigError: a key is missing or has the wrong type.
        """
        if isinstance(item, ScriptedCommand):
            return item
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"{where}: expected a mapping like {{at: 2.0, event: pause, args: {{}}}}, "
                f"got {type(item).__name__}"
            )
        at, name, args = item.get("at"), item.get("event"), item.get("args") or {}
        if isinstance(at, bool) or not isinstance(at, int | float) or not at >= 0:
            raise ConfigError(f"{where}: 'at' must be media seconds >= 0, got {at!r}")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: 'event' must be a command name, got {name!r}")
        if not isinstance(args, Mapping):
            raise ConfigError(f"{where}: 'args' must be a mapping, got {type(args).__name__}")
        return cls(float(at), name, dict(args), base)


def parse_step(
    item: Any, where: str = "command", base: Path | None = None
) -> ScriptedCommand | ScriptedUpload:
    """A script step: an upload (`{at, upload: path}`) or a command (`{at, event, args}`).

    Raises:
        ConfigError: a key is missing or has the wrong type, or an uploaded file is missing.
    """
    if isinstance(item, ScriptedUpload):
        return item
    if isinstance(item, Mapping) and "upload" in item:
        return ScriptedUpload.parse(item, where, base)
    return ScriptedCommand.parse(item, where, base)


def load_script(path: str | Path) -> list[ScriptedCommand | ScriptedUpload]:
    """Read a YAML list of scripted commands and uploads (paths relative to its folder).

    Raises:
        ConfigError: the file is missing, not YAML, or not a list of commands.
    """
    path = Path(path)
    try:
        items = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the command script ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: the command script is not valid YAML: {exc}") from None
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected a list of {{at, event, args}}, got a mapping/scalar")
    base = path.resolve().parent
    return [parse_step(item, f"{path}: item {i}", base) for i, item in enumerate(items)]


@dataclass
class RenderResult:
    """What a render produced."""

    output_path: Path
    seconds: float
    video_frames: int
    audio_samples: int
    events: list[dict[str, Any]]
    encode_ms_per_frame: float
    wall_seconds: float
    stats: dict[str, Any]


async def render(
    project: Project | str | Path,
    seconds: float,
    commands: Iterable[ScriptedCommand | ScriptedUpload | Mapping[str, Any]] = (),
    output_path: str | Path = "out.mp4",
    on_message: EventListener | None = None,
    *,
    progress: bool = False,
    first_frame_timeout: float = 10.0,
) -> RenderResult:
    """Run a model for `seconds` of media time and write its paced A/V to `output_path`.

    Args:
        project: a loaded `Project`, or a model directory holding `reactor.yaml`.
        seconds: media seconds to render.
        commands: scripted commands and uploads, sent at their media times.
        output_path: the MP4 to write.
        on_message: called with each event as a JSON-ready dict: model messages
            `{"t", "type", "data"}`, command outcomes `{"t", "command", "reply"}`
            or `{"t", "command", "error"}`, uploads `{"t", "upload", "upload_id", "size"}`,
            runtime notices `{"t", "notice", "message"}`.
        progress: draw a progress bar on stderr.
        first_frame_timeout: wall seconds to wait for the model's first frame.

    Raises:
        ConfigError: the project or a command cannot be used.
        ModelLoadError: the model's `load()` raised.
        RenderError: the model emitted nothing in time, or encoding failed.
    """
    if not seconds > 0:
        raise ConfigError(f"seconds: expected a duration > 0, got {seconds!r}")
    if not Path(output_path).resolve().parent.is_dir():
        raise ConfigError(f"{output_path}: the output's directory does not exist")
    if not isinstance(project, Project):
        project = load_project(project)
    script = sorted((parse_step(c) for c in commands), key=lambda c: c.at)
    try:
        session = Session(project.model_class, project.config, project.name)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    video = next((t for t in session.output_tracks if t.kind == "video"), None)
    audio = next((t for t in session.output_tracks if t.kind == "audio"), None)
    end_ticks = round(seconds * CLOCK_RATE)
    writer = Mp4Writer(
        output_path,
        video.name if video else None,
        audio.name if audio else None,
        audio.type.channels if audio else 1,  # type: ignore[attr-defined]
        session.buffer.fps,
        end_ticks,
    )
    events: list[dict[str, Any]] = []

    def media_time() -> float:
        return round(session.pacer.pts_now() / CLOCK_RATE, 3)

    def record(entry: dict[str, Any]) -> None:
        events.append(entry)
        if on_message is not None:
            on_message(entry)

    session.on_message(
        lambda kind, data: record({"t": media_time(), "type": kind, "data": data}), VIEWER
    )
    done = asyncio.Event()
    startup_failures: list[str] = []

    def notice(code: str, text: str) -> None:
        record({"t": media_time(), "notice": code, "message": text})
        if code == "model_error" and session.pacer.origin is None:
            # A render is a batch job: a run() that fails before its first frame ends it.
            startup_failures.append(text.split("; restarting")[0])
            done.set()

    session.on_notice(notice)

    def sink(frame: PacedFrame) -> None:
        writer.submit(frame)
        if frame.pts + frame.duration >= end_ticks:
            done.set()

    wall_start = time.monotonic()
    await session.start()
    tasks: list[asyncio.Task[None]] = []
    stats: dict[str, Any] = {}
    failed = True
    try:
        writer.start()
        session.add_sink(sink)
        await session.viewer_joined(VIEWER)
        tasks.append(asyncio.create_task(_play_script(session, script, media_time, record)))
        if progress:
            tasks.append(asyncio.create_task(_draw_progress(media_time, seconds, writer)))
        joined = time.monotonic()
        while not done.is_set():
            if session.pacer.origin is None and time.monotonic() - joined > first_frame_timeout:
                raise RenderError(
                    f"{project.model_class.__name__} emitted no frame in {first_frame_timeout:g} s "
                    f"after a viewer connected (does run() await self.connected and emit?)"
                )
            # Frames may stop coming (paused model, underrun): media time still ends the render.
            if media_time() >= seconds + 0.25:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.05)
        if startup_failures:
            raise RenderError(
                f"{project.model_class.__name__}.{startup_failures[0]} (before its first frame)"
            )
        stats = session.stats()
        failed = False
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.viewer_left(VIEWER)
        await session.stop()
        if progress:
            sys.stderr.write("\n")
        try:
            await writer.close(complete=not failed)
        except RenderError:
            # The first failure is the one to report.
            if not failed:
                raise
    return RenderResult(
        output_path=Path(output_path),
        seconds=seconds,
        video_frames=writer.video_frames,
        audio_samples=writer.audio_samples,
        events=events,
        encode_ms_per_frame=writer.encode_ms_per_frame,
        wall_seconds=time.monotonic() - wall_start,
        stats=stats,
    )


async def _play_script(
    session: Session,
    script: list[ScriptedCommand | ScriptedUpload],
    media_time: Callable[[], float],
    record: EventListener,
) -> None:
    uploads = ScriptUploads(session)
    for command in script:
        while (wait := command.at - media_time()) > 0:
            await asyncio.sleep(min(wait, 0.02))
        sent = media_time()
        try:
            if isinstance(command, ScriptedUpload):
                record({"t": sent, **await uploads.upload(command)})
                continue
            args = await uploads.arguments(command.args, command.base)
            reply = await session.dispatch(command.event, args, VIEWER)
        except ConfigError as exc:
            step = (
                {"upload": command.path}
                if isinstance(command, ScriptedUpload)
                else {"command": command.event}
            )
            record({"t": sent, **step, "error": {"code": "upload_failed", "message": str(exc)}})
            continue
        except CommandError as exc:
            error = {"code": exc.code, "message": exc.message}
            record({"t": sent, "command": command.event, "error": error})
            continue
        data = None if reply is None else {"type": reply[0], "data": reply[1]}
        record({"t": sent, "command": command.event, "reply": data})


async def _draw_progress(
    media_time: Callable[[], float], seconds: float, writer: Mp4Writer
) -> None:
    width = 30
    while True:
        done = min(media_time(), seconds)
        filled = math.floor(width * done / seconds)
        sys.stderr.write(
            f"\rrendering [{'#' * filled}{'.' * (width - filled)}] {done:5.1f}/{seconds:g} s  "
            f"{writer.video_frames} frames  encode {writer.encode_ms_per_frame:4.1f} ms/frame"
        )
        sys.stderr.flush()
        await asyncio.sleep(0.2)


def apply_overrides(config: dict[str, Any], pairs: Iterable[str]) -> dict[str, Any]:
    """Set `key=value` pairs in `config`; values are read as YAML, dotted keys nest.

    `--config model.steps=4` sets `config["model"]["steps"] = 4`, as `reactor run` does.

    Raises:
        ConfigError: a pair has no `=` or an empty key.
    """
    for pair in pairs:
        key, sep, text = pair.partition("=")
        path = [part.strip() for part in key.split(".")]
        if not sep or not all(path):
            raise ConfigError(f"--config {pair!r}: expected key=value (e.g. frames_per_block=3)")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        target = config
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[path[-1]] = value
    return config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `reactor render`."""
    parser.add_argument("directory", nargs="?", default=".", help="model directory (reactor.yaml)")
    parser.add_argument("--seconds", type=float, default=10.0, help="media seconds to render")
    parser.add_argument(
        "--commands",
        metavar="SCRIPT",
        help="YAML list of {at, event, args} and {at, upload: FILE}",
    )
    parser.add_argument("-o", "--output", default="out.mp4", help="the MP4 to write")
    parser.add_argument(
        "--config",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a config.yml value (repeatable)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Run `reactor render`; model messages and command replies go to stdout as JSON lines.

    Returns:
        0 on success, 2 for a project or script to fix, 1 when the model or encoding failed.
    """

    def emit_line(entry: dict[str, Any]) -> None:
        print(json.dumps(entry), flush=True)

    try:
        project = load_project(args.directory)
        apply_overrides(project.config, args.config)
        script = load_script(args.commands) if args.commands else []
        result = asyncio.run(
            render(project, args.seconds, script, args.output, emit_line, progress=not args.quiet)
        )
    except ConfigError as exc:
        print(f"reactor render: error: {exc}", file=sys.stderr)
        return 2
    except (ModelLoadError, RenderError, OSError) as exc:
        print(f"reactor render: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("reactor render: interrupted", file=sys.stderr)
        return 130
    print(
        f"wrote {result.output_path}: {result.seconds:g} s, {result.video_frames} video frames, "
        f"encode {result.encode_ms_per_frame:.1f} ms/frame, {result.wall_seconds:.1f} s wall",
        file=sys.stderr,
    )
    return 0
