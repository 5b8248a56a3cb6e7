"""Client commands (`@event`), viewer hooks (`@connected`, `@disconnected`) and their schema.

A command is a model method marked with `@event`. Its parameters, typed by
annotations, defaults and `InputField` constraints, become a pydantic model
that validates the client's arguments before the handler runs. The same model
renders the command set as the wire capabilities and as an OpenAPI document.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from .fields import UNSET, InputField, check_defaults
from .messages import ModelMessage
from .uploads import upload_kind

F = TypeVar("F", bound=Callable[..., Any])

INVALID_COMMAND = "invalid_command"
INTERNAL_ERROR = "internal_error"
REPLY_TOO_LARGE = "reply_too_large"
"""The error a caller gets instead of a handler's reply too large for one data-channel
message (`protocol.MAX_MESSAGE_SIZE`, what the official clients accept)."""

CLIENT = "client"
"""The reserved parameter name: a handler or hook declaring it gets the caller's `ClientInfo`."""
UPLOADED_FILE = "uploaded_file"
"""The parameter of a `@file_uploaded` hook."""


class CommandError(Exception):
    """An error a command handler raises; `code` and `message` reach the caller verbatim."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class EventInfo:
    """What `@event` records on a handler."""

    name: str | None
    description: str


def event(name: str | None = None, description: str = "") -> Callable[[F], F]:
    """Mark a model method (async or sync) as a command clients may send.

    Args:
        name: the command's wire name; defaults to the method name.
        description: shown to users of the command (required by some clients).

    Raises:
        TypeError: an `InputField` default breaks its own constraints, or the
            return annotation is neither one `ModelMessage` subclass nor `None`.
    """

    def mark(func: F) -> F:
        command = name or func.__name__
        check_defaults(f"command '{command}'", func)
        with contextlib.suppress(NameError):
            # A name defined later in the module is checked when the commands are collected.
            response_type(command, func)
        func._reactor_event = EventInfo(name, description)  # type: ignore[attr-defined]
        return func

    return mark


def response_type(command: str, func: Callable[..., Any]) -> type | None:
    """The `ModelMessage` subclass a handler's return annotation names, or None.

    Raises:
        TypeError: the annotation is anything else (a union included: the reply
            of a command has one shape).
        NameError: the annotation names something not defined yet.
    """
    annotation = getattr(func, "__annotations__", {}).get("return", UNSET)
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, getattr(func, "__globals__", {}))
        except NameError:
            raise
        except Exception as exc:
            raise TypeError(
                f"command '{command}': cannot read its return annotation {annotation!r} ({exc!r})"
            ) from None
    if annotation is UNSET or annotation is None or annotation is type(None):
        return None
    if isinstance(annotation, type) and issubclass(annotation, ModelMessage):
        return annotation
    shown = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    raise TypeError(
        f"command '{command}': returns {shown}; annotate one ModelMessage subclass (the "
        f"reply to the caller) or None (raise CommandError to report a failure)"
    )


def connected(func: F) -> F:
    """Mark a model method run each time a viewer connects (after `self.connected` is set).

    Declaring a `client` parameter gives it the viewer's `ClientInfo`.
    """
    func._reactor_hook = "connected"  # type: ignore[attr-defined]
    return func


def disconnected(func: F) -> F:
    """Mark a model method run each time a viewer leaves (before `self.connected` clears).

    Not run for the viewers still connected when the session ends: the model
    hears `@session_ended` once instead. A `client` parameter gets the viewer.
    """
    func._reactor_hook = "disconnected"  # type: ignore[attr-defined]
    return func


def session_started(func: F) -> F:
    """Mark a model method run once when a session starts, before any viewer connects."""
    func._reactor_hook = "session_started"  # type: ignore[attr-defined]
    return func


def session_ended(func: F) -> F:
    """Mark a model method run once when the session ends (instead of per-viewer hooks)."""
    func._reactor_hook = "session_ended"  # type: ignore[attr-defined]
    return func


def file_uploaded(func: F) -> F:
    """Mark a model method run when a viewer says an upload finished: `(self, uploaded_file)`.

    It runs once per upload, on the model loop, after the upload's bytes are all
    written; a `client` parameter gets the viewer who uploaded it.

    Raises:
        TypeError: the method takes anything but `uploaded_file` (and `client`).
    """
    params = [p for p in list(inspect.signature(func).parameters)[1:] if p != CLIENT]
    if params != [UPLOADED_FILE]:
        raise TypeError(
            f"@file_uploaded {func.__name__}(): expected the parameters (self, {UPLOADED_FILE}) "
            f"and optionally {CLIENT}, got {params}"
        )
    func._reactor_hook = "file_uploaded"  # type: ignore[attr-defined]
    return func


def takes_client(func: Callable[..., Any]) -> bool:
    """Whether `func` declares the reserved `client` parameter."""
    return CLIENT in inspect.signature(func).parameters


@dataclass
class Command:
    """One validated command of a model class."""

    name: str
    description: str
    method_name: str
    arguments: type[BaseModel]
    params: list[str] = field(default_factory=list)
    response: type | None = None
    wants_client: bool = False
    uploads: dict[str, str] = field(default_factory=dict)
    """Parameters taking uploads, and how (`uploads.upload_kind`)."""

    def validate(self, args: Any) -> dict[str, Any]:
        """Validate raw client arguments; return keyword arguments for the handler.

        Raises:
            CommandError: code `invalid_command`, naming each offending field.
        """
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise CommandError(
                INVALID_COMMAND,
                f"command '{self.name}': expected an object of arguments, "
                f"got {type(args).__name__}",
            )
        try:
            parsed = self.arguments.model_validate(args)
        except pydantic.ValidationError as exc:
            problems = "; ".join(_describe(err) for err in exc.errors())
            raise CommandError(INVALID_COMMAND, f"command '{self.name}': {problems}") from None
        return {name: getattr(parsed, name) for name in self.params}

    def capability(self) -> dict[str, Any]:
        """The command as a wire `CommandCap` (`name`, `description`, per-parameter schema)."""
        schema = self.arguments.model_json_schema()
        required = set(schema.get("required", []))
        params = {}
        for name, prop in schema.get("properties", {}).items():
            spec: dict[str, Any] = {"type": _simple_type(prop), "required": name in required}
            for src, dst in (
                ("description", "description"),
                ("minimum", "minimum"),
                ("maximum", "maximum"),
                ("enum", "enum"),
                ("default", "default"),
                ("minLength", "minLength"),
                ("maxLength", "maxLength"),
            ):
                if src in prop:
                    spec[dst] = prop[src]
            params[name] = spec
        return {"name": self.name, "description": self.description, "schema": params}


def _describe(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "arguments"
    got = err.get("input")
    if err["type"] == "missing":
        return f"argument '{where}' is required"
    if err["type"] == "extra_forbidden":
        return f"argument '{where}' is not a parameter of this command"
    return f"argument '{where}': {err['msg']} (got {got!r})"


def _simple_type(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        kinds = {type(v) for v in prop["enum"]}
        if kinds <= {int}:
            return "integer"
        if kinds <= {int, float}:
            return "number"
        return "string"
    kind = prop.get("type")
    if kind is None and "anyOf" in prop:
        kinds = [p.get("type") for p in prop["anyOf"] if p.get("type") != "null"]
        kind = kinds[0] if kinds else "string"
    return kind if kind in ("number", "integer", "string", "boolean") else "string"


def _build_command(method_name: str, func: Callable[..., Any], info: EventInfo) -> Command:
    name = info.name or method_name
    signature = inspect.signature(func)
    hints = _type_hints(func)
    fields: dict[str, Any] = {}
    params = []
    for param in list(signature.parameters.values())[1:]:
        if param.name == CLIENT:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"command '{name}': *args/**kwargs parameters are not supported")
        annotation = hints.get(param.name, Any)
        default = param.default
        constraints: dict[str, Any] = {}
        factory = None
        if isinstance(default, InputField):
            spec = default
            default, factory = spec.default, spec.default_factory
            if spec.choices is not None:
                annotation = Literal[tuple(spec.choices)]  # type: ignore[misc]
            constraints = {
                k: v
                for k, v in (
                    ("description", spec.description),
                    ("ge", spec.ge),
                    ("le", spec.le),
                    ("min_length", spec.min_length),
                    ("max_length", spec.max_length),
                )
                if v is not None
            }
            if spec.moderate:
                constraints["json_schema_extra"] = {"x-reactor-moderate": True}
        if factory is not None:
            constraints["default_factory"] = factory
        elif default is not UNSET:
            constraints["default"] = default
        fields[param.name] = (annotation, Field(**constraints))
        params.append(param.name)
    model = pydantic.create_model(  # type: ignore[call-overload]
        f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    try:
        response = response_type(name, func)
    except NameError as exc:
        raise TypeError(
            f"command '{name}': cannot resolve its return annotation ({exc}); a reply type "
            f"must exist when the model is loaded"
        ) from None
    wants_client = CLIENT in signature.parameters
    kinds = {p: k for p in params if (k := upload_kind(fields[p][0])) is not None}
    return Command(
        name, info.description or name, method_name, model, params, response, wants_client, kinds
    )


def _type_hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception:
        return {
            k: v for k, v in getattr(func, "__annotations__", {}).items() if not isinstance(v, str)
        }


@dataclass
class CommandSet:
    """The commands, viewer hooks and session hooks of one model class."""

    commands: dict[str, Command]
    on_connected: list[str]
    on_disconnected: list[str]
    on_session_started: list[str] = field(default_factory=list)
    on_session_ended: list[str] = field(default_factory=list)
    on_file_uploaded: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, model_class: type) -> CommandSet:
        """Collect the `@event` methods and the hooks of a class and its bases.

        Raises:
            TypeError: two handlers claim one command name, or a signature is unsupported.
        """
        commands: dict[str, Command] = {}
        hooks: dict[str, list[str]] = {
            "connected": [],
            "disconnected": [],
            "session_started": [],
            "session_ended": [],
            "file_uploaded": [],
        }
        seen: set[str] = set()
        for klass in model_class.__mro__:
            for attr, value in vars(klass).items():
                if attr in seen:
                    continue
                seen.add(attr)
                info = getattr(value, "_reactor_event", None)
                if isinstance(info, EventInfo):
                    command = _build_command(attr, value, info)
                    if command.name in commands:
                        raise TypeError(
                            f"{model_class.__name__}: two handlers for command '{command.name}'"
                        )
                    commands[command.name] = command
                hook = getattr(value, "_reactor_hook", None)
                if hook in hooks:
                    hooks[hook].append(attr)
        return cls(
            commands,
            hooks["connected"],
            hooks["disconnected"],
            hooks["session_started"],
            hooks["session_ended"],
            hooks["file_uploaded"],
        )

    def get(self, name: Any) -> Command:
        """The command called `name`.

        Raises:
            CommandError: `invalid_command` for an unknown name, listing the known ones.
        """
        command = self.commands.get(name) if isinstance(name, str) else None
        if command is None:
            known = ", ".join(sorted(self.commands)) or "none"
            raise CommandError(INVALID_COMMAND, f"unknown command {name!r} (commands: {known})")
        return command

    def capabilities(self) -> list[dict[str, Any]]:
        """All commands as wire `CommandCap` dicts."""
        return [c.capability() for c in self.commands.values()]
