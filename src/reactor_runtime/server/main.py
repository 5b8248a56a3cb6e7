"""`reactor run [DIR]`: load a model once and serve it until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
import yaml

from ..config import ConfigError, Project, load_project
from ..session import Session
from .app import create_app
from .auth import TokenSet
from .cors import CorsPolicy
from .exposure import Exposure, ExposureError
from .exposure import add_arguments as add_access_arguments
from .ice import IceConfigError, parse_ice_servers
from .limit_options import add_arguments as add_limit_arguments
from .limit_options import from_args as limits_from_args
from .media_options import add_arguments as add_media_arguments
from .media_options import from_args as media_options
from .peer_options import add_arguments as add_peer_arguments
from .peer_options import from_args as peer_options
from .rate_options import add_arguments as add_rate_arguments
from .rate_options import from_args as rate_options
from .replica import Replica
from .replica import add_arguments as add_replica_arguments
from .runtime import Runtime

log = logging.getLogger(__name__)

DEMO = "reactor_runtime.demo:DemoModel"
EXIT_USAGE = 2


class UsageError(Exception):
    """Something the user must change before the server can start (exit status 2)."""


def _override(text: str) -> tuple[list[str], Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `reactor run` to `parser`."""
    parser.add_argument(
        "dir", nargs="?", metavar="DIR", help="model directory with reactor.yaml (default: demo)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks one")
    parser.add_argument(
        "--ice-servers",
        default=None,
        help="ICE servers for peers and clients: a JSON list or comma list of stun:/turn: URLs "
        "(default $REACTOR_ICE_SERVERS, else none: no public STUN is ever contacted)",
    )
    parser.add_argument(
        "--video-codec", choices=("vp8", "h264"), default="vp8", help="video codec (vp8)"
    )
    parser.add_argument(
        "--orphan-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="end a session after this long without a viewer; 0 never (60)",
    )
    parser.add_argument(
        "--max-connections", type=int, default=8, help="peers per session before 503 (8)"
    )
    parser.add_argument(
        "--config",
        dest="overrides",
        action="append",
        type=_override,
        default=[],
        metavar="KEY=VALUE",
        help="override a config.yml value (YAML value; dotted keys nest); repeatable",
    )
    add_access_arguments(parser)
    add_limit_arguments(parser)
    add_peer_arguments(parser)
    add_rate_arguments(parser)
    add_media_arguments(parser)
    add_replica_arguments(parser)


def find_project(directory: str | None, overrides: list[tuple[list[str], Any]]) -> Project:
    """The model to serve: `directory`'s, or the built-in demo when none is given.

    Raises:
        UsageError: the directory or the demo cannot be used.
    """
    if directory is not None:
        try:
            project = load_project(directory)
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
    else:
        module_name, class_name = DEMO.split(":")
        try:
            module = importlib.import_module(module_name)
            model_class = getattr(module, class_name)
        except (ImportError, AttributeError):
            raise UsageError(
                f"no model directory given and the built-in demo ({DEMO}) is not available; "
                f"pass DIR (a directory with reactor.yaml)"
            ) from None
        make = getattr(module, "project", None)
        project = make() if callable(make) else Project(model_class, "demo", {})
    for path, value in overrides:
        target = project.config
        for key in path[:-1]:
            child = target.get(key)
            if not isinstance(child, dict):
                child = target[key] = {}
            target = child
        target[path[-1]] = value
    return project


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it. asyncio sets it only on sockets created with
        # IPPROTO_TCP; without it a keep-alive client waits ~40 ms (Nagle + delayed ACK)
        # for every answer written in two parts (headers, then body).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def public_url(host: str, sock: socket.socket, scheme: str = "http") -> str:
    """The URL to print: a wildcard address is shown as loopback (what a browser can open)."""
    port = sock.getsockname()[1]
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"{scheme}://[{shown}]:{port}/" if ":" in shown else f"{scheme}://{shown}:{port}/"


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising the signal after a graceful shutdown.

    uvicorn re-raises SIGINT/SIGTERM once it has shut down, which turns a clean
    stop into a KeyboardInterrupt traceback or a death by signal; `reactor run`
    exits 0 instead. SIGTERM calls `on_sigterm` (a drain) when set; a second
    SIGTERM, or SIGINT, stops at once.
    """

    on_sigterm: Callable[[], None] | None = None

    def _on_signal(self, sig: int, frame: Any) -> None:
        if sig == signal.SIGTERM and self.on_sigterm is not None:
            drain, self.on_sigterm = self.on_sigterm, None
            drain()
            return
        self.handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


class _Outcome:
    text = "done"


@contextlib.contextmanager
def progress(what: str) -> Iterator[_Outcome]:
    """Show that `what` is under way on stderr: a spinner on a terminal, else two lines.

    Set `.text` on the yielded object to say how it ended ("done" by default).
    """
    started = time.monotonic()
    stop = threading.Event()
    tty = sys.stderr.isatty()
    outcome = _Outcome()

    def spin() -> None:
        frames = "|/-\\"
        i = 0
        while not stop.wait(0.1):
            elapsed = time.monotonic() - started
            sys.stderr.write(f"\r{frames[i % 4]} {what}… {elapsed:.0f} s")
            sys.stderr.flush()
            i += 1

    spinner = threading.Thread(target=spin, daemon=True) if tty else None
    if spinner:
        spinner.start()
    else:
        print(f"{what}…", file=sys.stderr, flush=True)
    try:
        yield outcome
    finally:
        stop.set()
        if spinner:
            spinner.join()
            sys.stderr.write("\r\x1b[K")
        elapsed = time.monotonic() - started
        print(f"{what}: {outcome.text} after {elapsed:.1f} s", file=sys.stderr, flush=True)


async def serve(
    runtime: Runtime,
    sock: socket.socket,
    url: str,
    exposure: Exposure | None = None,
    replica: Replica | None = None,
) -> int:
    """Serve until a signal or a finished drain; returns the exit status (1 if loading fails)."""
    exposure = exposure or Exposure("127.0.0.1", TokenSet(), CorsPolicy())
    replica = replica or Replica(runtime)
    app = create_app(runtime, replica=replica, **exposure.app_options())
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
        **exposure.uvicorn_options(),
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    replica.on_drained = lambda: setattr(server, "should_exit", True)
    server.on_sigterm = lambda: loop.call_soon_threadsafe(replica.drain)
    # For supervisors (`--port 0`): one line, before loading, that they can parse.
    print(f"reactor: listening port={sock.getsockname()[1]}", flush=True)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    loading = runtime.begin_loading()
    with progress(f"loading model {runtime.model_name}") as outcome:
        await asyncio.wait({serving, loading}, return_when=asyncio.FIRST_COMPLETED)
        if not runtime.loaded:
            outcome.text = "failed" if runtime.load_error else "interrupted"
    if loading.done() and not loading.cancelled() and loading.exception() is not None:
        print(f"reactor run: error: {loading.exception()}", file=sys.stderr, flush=True)
        server.should_exit = True
        await serving
        return 1
    if runtime.loaded and not serving.done():
        print(f"reactor: serving {runtime.model_name} at {url}", flush=True)
        page = exposure.page_url(url)
        if page is not None:
            print(f"reactor: open {page} (the token travels in the fragment)", flush=True)
        print("press Ctrl-C to stop", file=sys.stderr, flush=True)
    await serving
    return 0


def main(args: argparse.Namespace) -> int:
    """Run `reactor run` with parsed `args`; returns the exit status."""
    try:
        project = find_project(args.dir, args.overrides)
        ice_text = args.ice_servers
        if ice_text is None:
            ice_text = os.environ.get("REACTOR_ICE_SERVERS")
        ice_servers = parse_ice_servers(ice_text)
        try:
            media = media_options(args)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            session = Session(
                project.model_class,
                project.config,
                project.name,
                max_frame_metadata=media.max_frame_metadata,
            )
        except TypeError as exc:
            raise UsageError(str(exc)) from None
        exposure = Exposure.from_args(args)
        try:
            limits = limits_from_args(args)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            peer = peer_options(args)
            rates = rate_options(args)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        sock = _listen(args.host, args.port)
    except (UsageError, IceConfigError, ExposureError) as exc:
        print(f"reactor run: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for warning in exposure.warnings():
        print(f"reactor run: warning: {warning}", file=sys.stderr, flush=True)
    note = exposure.certificate_note()
    if note is not None:
        print(note, flush=True)
    runtime = Runtime(
        session,
        model_name=project.name,
        ice_servers=ice_servers,
        orphan_timeout=args.orphan_timeout,
        max_connections=args.max_connections,
        limits=limits,
        video_codec=args.video_codec,
        public_ip=args.public_ip,
        **peer,
        **rates,
        **media.runtime_options(),
    )
    replica = Replica(runtime, drain_timeout=args.drain_timeout)
    try:
        url = public_url(args.host, sock, exposure.scheme)
        return asyncio.run(serve(runtime, sock, url, exposure, replica))
    finally:
        sock.close()
