"""One live session: the model thread, viewers coming and going, commands, messages, media.

The session owns the model. `run()` executes on a thread of its own with its
own event loop (`model_thread`), so blocking calls inside it never stall the
caller's loop (the server's). Command handlers and viewer hooks run on the model loop too, so
model state is touched by one thread. Everything here that the transport
calls is a coroutine or callback of the caller's loop; the session knows
nothing of the wire.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .clients import ClientInfo
from .config import call_load
from .events import CLIENT, INTERNAL_ERROR, CommandError, CommandSet, takes_client
from .generation import generation, input_holders
from .listeners import Listeners, MessageListener, NoticeListener
from .media.emitter import Emitter
from .media.input_buffer import InputFrame, Inputs
from .media.output_buffer import OutputBuffer
from .media.pacer import Pacer, Sink
from .messages import ModelMessage
from .model import ReactorModel, declared_tracks
from .model_thread import ModelThread
from .tracks import MAX_FRAME_METADATA, frame_metadata_limit
from .upload_store import UploadStore, resolve_uploads

log = logging.getLogger(__name__)


HOOK_WAIT = 5.0
"""Seconds a leaving viewer waits for `@disconnected` hooks before moving on."""


class ModelLoadError(Exception):
    """`load()` raised; the session cannot start."""


class Session:
    """Host one model: load it, run it, connect viewers to it.

    Listeners registered with `on_message` receive model messages, those with
    `on_notice` runtime notices (code, text), both on the caller's loop.
    """

    def __init__(
        self,
        model_class: type[ReactorModel],
        config: dict[str, Any] | None = None,
        name: str | None = None,
        config_path: Path | None = None,
        max_frame_metadata: int = MAX_FRAME_METADATA,
    ) -> None:
        """Prepare a session for `model_class`; nothing runs until `start()`.

        `config` is what a `load(config: dict)` receives; `config_path` (default:
        `config.path` of a `Config`) what a `load(config_path: Path | None)` does.
        `max_frame_metadata` bounds one video frame's metadata, in bytes once encoded
        (`emit` refuses more; `reactor run --max-frame-metadata`; below 1: ValueError).
        """
        self.max_frame_metadata = frame_metadata_limit(max_frame_metadata)
        self.model_class = model_class
        self.config = dict(config or {})
        self.config_path = config_path or getattr(config, "path", None)
        self.name = name or model_class.__name__
        self.output_tracks, self.input_tracks = declared_tracks(model_class)
        if not self.output_tracks:
            log.info("%s declares no output tracks: it sends messages only", model_class.__name__)
        self.commands = CommandSet.of(model_class)
        # 3.x models may leave `buffer_size = None` for "the runtime's default".
        size = model_class.buffer_size
        self.buffer = OutputBuffer(
            ReactorModel.buffer_size if size is None else size, model_class.fps
        )
        self.pacer = Pacer(
            self.buffer,
            {t.name: t.type.channels for t in self.output_tracks if t.kind == "audio"},  # type: ignore[attr-defined]
        )
        self.generation = generation(model_class)
        self.inputs = Inputs.of(self.input_tracks, lists=self.generation == "3x")
        self.viewers: set[str] = set()
        self.model: ReactorModel | None = None
        self.run_failures = 0
        self.session_live = False
        self.listeners = Listeners()
        self.clients: dict[str, ClientInfo] = {}
        self.uploads = UploadStore()
        """The session's uploaded files (`upload_store`), deleted when it ends."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = ModelThread(f"model:{self.name}")
        self._pacer_task: asyncio.Task[None] | None = None
        self._run_future: concurrent.futures.Future[None] | None = None
        self._stopping = False

    # lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start the model thread, run `load(config)` there, then start `run()` and the pacer.

        Raises:
            ModelLoadError: `load()` raised (the traceback is chained).
        """
        self._loop = asyncio.get_running_loop()
        try:
            self.model = await self._thread.start(self._build_model)
        except Exception as exc:
            raise ModelLoadError(f"{self.model_class.__name__}.load() failed: {exc!r}") from exc
        await self.begin_session()
        self._run_future = self._thread.submit(self._supervise_run())
        self._pacer_task = asyncio.create_task(self.pacer.run(), name="pacer")

    @property
    def model_loop(self) -> asyncio.AbstractEventLoop | None:
        """The model thread's event loop (None before `start()`)."""
        return self._thread.loop

    def _build_model(self) -> ReactorModel:
        """On the model thread: instantiate the model, wire it up, run its `load()`."""
        model = self.model_class()
        model.connected = asyncio.Event()
        model.disconnected = asyncio.Event()
        model.disconnected.set()
        model._step_lock = asyncio.Lock()
        model._live = asyncio.Event()
        model.output_buffer = self.buffer
        model.input = self.inputs
        for holder in input_holders(self.model_class):
            setattr(model, holder, self.inputs)
        model._emitter = Emitter(
            self.output_tracks,
            self.buffer,
            lambda: bool(self.viewers),
            self._from_model,
            self.max_frame_metadata,
        )
        call_load(model, self.config, self.config_path)
        return model

    async def _supervise_run(self) -> None:
        assert self.model is not None
        backoff = 0.5
        while not self._stopping:
            started = time.monotonic()
            try:
                await self.model.run()
                log.warning("model run() returned; restarting it in %.1f s", backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.run_failures += 1
                log.exception("model run() raised; restarting it in %.1f s", backoff)
                text = f"run() raised {exc!r}; restarting in {backoff:g} s"
                self._to_caller(self.listeners.notify, "model_error", text)
            if time.monotonic() - started > 30:
                backoff = 0.5
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def begin_session(self) -> None:
        """A session starts: per-session state is built, then `@session_started` hooks run.

        `start()` begins the first session; a no-op while a session is live.
        """
        if not self.session_live:
            self.session_live = True
            await self._on_model(self._session_boundary(begin=True))

    async def end_session(self) -> None:
        """The session ends: `@session_ended` hooks run, then per-session state is dropped.

        Viewers still connected then leave without `@disconnected` hooks. `stop()`
        ends the session; a no-op when none is live.
        """
        try:
            if self.session_live and self._thread.alive:
                self.session_live = False
                await self._on_model(self._session_boundary(begin=False), timeout=HOOK_WAIT)
        finally:  # even when the hooks fail or the wait is cancelled
            self.uploads.clear()

    async def _session_boundary(self, begin: bool) -> None:
        model = self.model
        assert model is not None
        self._update_live()
        if begin:
            async with model._step_lock:
                model._session_begins()
            await self._run_hooks(self.commands.on_session_started)
        else:
            await self._run_hooks(self.commands.on_session_ended)
            async with model._step_lock:
                model._session_ends()

    def _update_live(self) -> None:
        model = self.model
        assert model is not None
        if self.session_live and model.connected.is_set():
            model._live.set()
        else:
            model._live.clear()

    async def stop(self) -> None:
        """End the session, disconnect every viewer, stop `run()`, the pacer and the thread."""
        self._stopping = True
        await self.end_session()
        for viewer in list(self.viewers):
            await self.viewer_left(viewer)
        if self._pacer_task:
            self._pacer_task.cancel()
        await self._thread.stop()

    @property
    def running(self) -> bool:
        """True between `start()` and `stop()`."""
        return self.model is not None and not self._stopping

    # viewers ---------------------------------------------------------------

    async def viewer_joined(self, viewer: str) -> None:
        """A viewer connected: set `connected` (on the first one), run `@connected` hooks."""
        first = not self.viewers
        self.viewers.add(viewer)
        client = ClientInfo(viewer, time.monotonic(), _send=lambda m: self._send_to(viewer, m))
        self.clients[viewer] = client
        await self._on_model(self._joined(first, client))

    async def _joined(self, first: bool, client: ClientInfo) -> None:
        model = self.model
        assert model is not None
        if first:
            model._emitter.reset()
            model.disconnected.clear()
            model.connected.set()
            self._update_live()
        await self._run_hooks(self.commands.on_connected, client)

    async def viewer_left(self, viewer: str) -> None:
        """A viewer left: run `@disconnected` hooks, clear `connected` after the last one."""
        if viewer not in self.viewers:
            return
        self.viewers.discard(viewer)
        client = self.clients.pop(viewer, None)
        last = not self.viewers
        if last:
            self.buffer.flush()
        await self._on_model(self._left(last, client), timeout=HOOK_WAIT)
        if last and not self.viewers:
            self.buffer.flush()
            self.pacer.reset()

    async def _left(self, last: bool, client: ClientInfo | None) -> None:
        model = self.model
        assert model is not None
        if last and not self.viewers:
            model._live.clear()
        if self.session_live:
            await self._run_hooks(self.commands.on_disconnected, client)
        if last and not self.viewers:
            model.connected.clear()
            model.disconnected.set()
            self._update_live()

    async def _run_hooks(
        self, names: list[str], client: ClientInfo | None = None, **kwargs: Any
    ) -> None:
        assert self.model is not None
        async with self.model._step_lock:
            for name in names:
                try:
                    hook = getattr(self.model, name)
                    result = hook(client=client, **kwargs) if takes_client(hook) else hook(**kwargs)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("hook %s() raised", name)

    # commands --------------------------------------------------------------

    async def dispatch(
        self,
        name: Any,
        args: Any,
        viewer: str | None = None,
        uploads: dict[str, str] | None = None,
    ) -> tuple[str, dict[str, Any]] | None:
        """Validate and run a command of `viewer` (the caller) on the model loop.

        A handler declaring `client` gets the caller's `ClientInfo` (None when
        the caller is unknown). The reply is the caller's alone to deliver.
        Uploads the command names (in `uploads`, parameter -> upload id, or inline
        as `{"upload_id": ...}`) become `UploadedFile` arguments first.

        Returns:
            The handler's reply as `(type, data)` if it returned a `ModelMessage`.

        Raises:
            CommandError: `invalid_command` or `unresolved_upload` before the handler
                runs, the handler's own `CommandError`, or `internal_error` if it
                raised anything else.
        """
        command = self.commands.get(name)
        args = await resolve_uploads(self.uploads, command.name, command.uploads, args, uploads)
        kwargs = command.validate(args)
        if command.wants_client:
            kwargs[CLIENT] = self.clients.get(viewer) if viewer is not None else None
        return await self._on_model(self._call(command.method_name, kwargs))

    async def file_uploaded(self, upload_id: str, viewer: str | None = None) -> bool:
        """A viewer says upload `upload_id` finished: run `@file_uploaded` hooks (once per upload).

        Waits (bounded, `upload_store.UPLOAD_WAIT`) for bytes still arriving.

        Returns:
            False for a repeated notice, True once the hooks ran.

        Raises:
            UnresolvedUpload: no such upload, or its bytes never all arrived.
        """
        if not self.uploads.first_notice(upload_id):
            return False
        uploaded = await self.uploads.fetch(upload_id)
        client = self.clients.get(viewer) if viewer is not None else None
        names = self.commands.on_file_uploaded
        await self._on_model(self._run_hooks(names, client, uploaded_file=uploaded))
        return True

    async def _call(self, method: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        assert self.model is not None
        try:
            async with self.model._step_lock:
                result = getattr(self.model, method)(**kwargs)
                if inspect.isawaitable(result):
                    result = await result
        except CommandError:
            raise
        except Exception as exc:
            log.exception("command handler %s() raised", method)
            raise CommandError(INTERNAL_ERROR, f"{method}() raised {exc!r}") from exc
        if result is None:
            return None
        if not isinstance(result, ModelMessage):
            raise CommandError(
                INTERNAL_ERROR,
                f"{method}() returned {type(result).__name__}; a handler may return a "
                f"ModelMessage or None",
            )
        return result.wire_type(), result.to_data()

    async def _on_model(self, coro: Any, timeout: float | None = None) -> Any:
        """Run `coro` on the model loop; with `timeout`, stop waiting (not the coroutine)."""
        return await self._thread.call(coro, timeout)

    # messages and media ----------------------------------------------------

    def on_message(
        self, listener: MessageListener, viewer: str | None = None
    ) -> Callable[[], None]:
        """Call `listener(type, data)` for each model message; returns an unsubscribe.

        With `viewer`, also for the messages sent to that viewer alone (`client.send`).
        """
        return self.listeners.on_message(listener, viewer)

    def on_notice(self, listener: NoticeListener) -> Callable[[], None]:
        """Call `listener(code, text)` for runtime notices; returns an unsubscribe."""
        return self.listeners.on_notice(listener)

    def add_sink(self, sink: Sink) -> Callable[[], None]:
        """Feed every paced frame to `sink` (on the caller's loop); returns a remover."""
        self.pacer.sinks.append(sink)
        return lambda: self.pacer.sinks.remove(sink)

    def push_input(self, track: str, frame: InputFrame) -> None:
        """Deliver one frame a viewer sent on input `track`."""
        self.inputs[track].push(frame)

    def _from_model(self, type_name: str, data: dict[str, Any]) -> None:
        self._to_caller(self.listeners.broadcast, type_name, data)

    def _send_to(self, viewer: str, message: ModelMessage) -> None:
        """`client.send`: validated on the model thread, delivered on the caller's."""
        self._to_caller(self.listeners.to_viewer, viewer, message.wire_type(), message.to_data())

    def _to_caller(self, fn: Callable[..., None], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def stats(self) -> dict[str, Any]:
        """Counters of the session: buffer, pacing, inputs, failures."""
        return {
            "viewers": len(self.viewers),
            "fps_target": self.buffer.fps,
            "fps_playing": round(self.pacer.current_fps, 2),
            "buffer_depth": self.buffer.depth,
            **self.buffer.stats.as_dict(),
            "messages_sent": self.listeners.sent,
            "messages_to_one_viewer": self.listeners.addressed,
            "messages_undelivered": self.listeners.undelivered,
            "run_failures": self.run_failures,
            "inputs": {b.name: b.stats() for b in self.inputs},
        }
