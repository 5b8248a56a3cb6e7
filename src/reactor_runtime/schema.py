"""The published contract: a model's commands, messages and tracks as one OpenAPI 3.1 document.

The document is laid out as the 3.x generation publishes it, so tools written
for that runtime (code generators, release checks) read ours unchanged:

- each command is an operation `POST /events/{name}` whose JSON body is the
  command's arguments. A command whose handler is annotated to return a
  `ModelMessage` answers `200` with a `$ref` to that message; one that returns
  nothing answers a bodyless `202`;
- each message is a `webhooks` entry named by its wire name; its shape is one
  component named by its class, which replies and webhooks share;
- tracks are listed under `x-reactor.tracks`, inputs first, each with its
  direction seen from the model: `in` (the viewer sends it), `out` (the model
  emits it);
- an `UploadedFile` parameter is a `$ref` to the shared `ReactorUploadReference`
  component;
- every command field states `x-reactor-moderate`: true where declared with
  `InputField(moderate=True)`, false elsewhere.

`reactor schema DIR` prints the document without serving: the model class is
imported, its `load()` never runs, so no weights are read. `GET /schema` and
the data channels' schema requests answer the same document.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import inspect
import json
import re
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from .events import Command, CommandSet
from .messages import ModelMessage, snake_case
from .model import declared_tracks
from .uploads import UploadedFile

if TYPE_CHECKING:
    from .session import Session

DEFAULT_VERSION = "v0.0.0"
"""`info.version` when no release tag is given: what the 3.x generation stamps by default."""
UPLOAD_COMPONENT = "ReactorUploadReference"
"""The component every `UploadedFile` parameter refers to."""
MAX_INLINE_DEPTH = 16
"""Nested definitions inlined before a (recursive) type is left as `{}`: a schema must end."""

_TAG = re.compile(r"v?\d+\.\d+\.\d+(?:-g[0-9a-f]+)?")
_UPLOAD_REFERENCE: dict[str, Any] = {
    "type": "object",
    "format": "reactor-upload-reference",
    "description": "A file the viewer uploaded beforehand, named by the id the upload returned.",
    "properties": {
        "upload_id": {"type": "string", "format": "uuid"},
        "name": {"type": "string"},
        "mime_type": {"type": "string"},
        "size": {"type": "integer"},
    },
    "required": ["upload_id", "name", "mime_type", "size"],
}


def release_tag(value: str) -> str:
    """`value` as a release tag with its leading `v`: `1.4.0` -> `v1.4.0`.

    Raises:
        ValueError: `value` is not `X.Y.Z` or `X.Y.Z-g<hex>` (a `v` prefix allowed).
    """
    if not _TAG.fullmatch(value):
        raise ValueError(
            f"version: expected a release tag like 1.4.0, v1.4.0 or 1.4.0-gac767ec, got {value!r}"
        )
    return value if value.startswith("v") else f"v{value}"


def build_schema(
    model_class: type,
    *,
    name: str | None = None,
    version: str = DEFAULT_VERSION,
    commands: CommandSet | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `model_class` (see the module docstring for its layout).

    Args:
        model_class: a `ReactorModel` subclass; imported, never loaded.
        name: the title, the name the model is served under (default: the
            class name in snake_case).
        version: `info.version`, as given.
        commands: the model's command set, when already collected.

    Raises:
        TypeError: the model's declarations are inconsistent (as when it is served).
    """
    commands = commands or CommandSet.of(model_class)
    outputs, inputs = declared_tracks(model_class)
    messages = message_classes(model_class, commands)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": name or snake_case(model_class.__name__),
            "version": version,
            "description": inspect.cleandoc(model_class.__dict__.get("__doc__") or ""),
        },
        "x-reactor": {
            "tracks": [{"name": t.name, "kind": t.kind, "direction": "in"} for t in inputs]
            + [{"name": t.name, "kind": t.kind, "direction": "out"} for t in outputs]
        },
    }
    paths = {f"/events/{c.name}": {"post": _operation(c)} for c in commands.commands.values()}
    if paths:
        doc["paths"] = paths
    webhooks = {m.wire_type(): {"post": _webhook(m)} for m in messages}
    if webhooks:
        doc["webhooks"] = webhooks
    components = {UPLOAD_COMPONENT: copy.deepcopy(_UPLOAD_REFERENCE)}
    for message in messages:
        components.setdefault(message.__name__, message_body(message))
    doc["components"] = {"schemas": components}
    return doc


def session_schema(session: Session, name: str | None = None) -> dict[str, Any]:
    """The document a served session publishes: `GET /schema` and the data channels' replies.

    Stamped `DEFAULT_VERSION`, as the 3.x generation serves it; `reactor schema
    --version` stamps a release.
    """
    return build_schema(session.model_class, name=name or session.name, commands=session.commands)


def message_classes(model_class: type, commands: CommandSet | None = None) -> list[type]:
    """The messages a model may send: those its module defines, then its commands' replies."""
    module = sys.modules.get(model_class.__module__)
    found = [
        value
        for value in (vars(module).values() if module else ())
        if isinstance(value, type)
        and issubclass(value, ModelMessage)
        and value is not ModelMessage
        and value.__module__ == model_class.__module__
    ]
    for command in (commands or CommandSet.of(model_class)).commands.values():
        if command.response is not None and command.response not in found:
            found.append(command.response)
    unique: dict[str, type] = {}
    for message in found:
        unique.setdefault(message.wire_type(), message)
    return list(unique.values())


def _ref(component: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{component}"}


def _operation(command: Command) -> dict[str, Any]:
    if command.response is None:
        responses: dict[str, Any] = {"202": {"description": "Command accepted"}}
    else:
        reply = command.response.__name__
        responses = {
            "200": {
                "description": reply,
                "content": {"application/json": {"schema": _ref(reply)}},
            }
        }
    return {
        "operationId": command.name,
        "summary": command.description,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": command_body(command)}},
        },
        "responses": responses,
    }


def _webhook(message: type) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": message.wire_type(),  # type: ignore[attr-defined]
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(message.__name__)}},
        },
    }
    if getattr(message, "user_doc", None):
        operation["summary"] = message.user_doc  # type: ignore[attr-defined]
    return operation


def _object(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        body["required"] = required
    return body


def command_body(command: Command) -> dict[str, Any]:
    """The JSON schema of a command's arguments: one property per parameter."""
    generated = command.arguments.model_json_schema()
    defs = generated.get("$defs", {})
    properties = {}
    for param in command.params:
        raw = generated.get("properties", {}).get(param, {})
        upload = _upload_schema(command.arguments.model_fields[param].annotation)
        if upload is None:
            prop = _clean(raw, defs)
        else:
            prop = {**upload, **{k: v for k, v in raw.items() if k in ("default", "description")}}
        prop["x-reactor-moderate"] = bool(prop.get("x-reactor-moderate", False))
        properties[param] = prop
    return _object(properties, [p for p in command.params if "default" not in properties[p]])


def message_body(message: type) -> dict[str, Any]:
    """The JSON schema of a message's fields, with their `MessageField` descriptions."""
    fields = dataclasses.fields(message) if dataclasses.is_dataclass(message) else ()
    try:
        generated = TypeAdapter(message).json_schema()
    except Exception:
        # A field type pydantic cannot describe is still a named field of the message.
        generated = {"properties": {f.name: {} for f in fields}}
    defs = generated.get("$defs", {})
    properties = {}
    required = []
    for f in fields:
        prop = _clean(generated.get("properties", {}).get(f.name, {}), defs)
        if f.metadata.get("description"):
            prop["description"] = f.metadata["description"]
        properties[f.name] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return _object(properties, required)


def _upload_schema(annotation: Any) -> dict[str, Any] | None:
    """The schema of an annotation naming `UploadedFile` (bare, optional or a list), or None."""
    if isinstance(annotation, type) and issubclass(annotation, UploadedFile):
        return _ref(UPLOAD_COMPONENT)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and args:
        item = _upload_schema(args[0])
        return None if item is None else {"type": "array", "items": item}
    if type(None) in args and len(args) == 2:
        inner = _upload_schema(next(a for a in args if a is not type(None)))
        return None if inner is None else {"anyOf": [inner, {"type": "null"}]}
    return None


def _clean(schema: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """`schema` without pydantic's titles and with its `$defs` references inlined."""
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        target = defs.get(ref.removeprefix("#/$defs/"), {}) if depth < MAX_INLINE_DEPTH else {}
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return {**_clean(target, defs, depth + 1), **_clean(siblings, defs, depth)}
    out = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _clean(v, defs, depth) for k, v in value.items()}
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
            out[key] = [_clean(v, defs, depth) for v in value]
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _clean(value, defs, depth)
        else:
            out[key] = value
    return out


# `reactor schema` ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `reactor schema`."""
    parser.add_argument("directory", nargs="?", default=".", help="model directory (reactor.yaml)")
    parser.add_argument(
        "--version",
        dest="release",
        default=None,
        help=f"release tag stamped as info.version, e.g. 1.4.0 (default {DEFAULT_VERSION})",
    )
    parser.add_argument("-o", "--out", type=Path, help="write the JSON here instead of stdout")


def main(args: argparse.Namespace) -> int:
    """Run `reactor schema`: print (or write) the model's document as JSON.

    Whatever the model's module prints while it is imported goes to stderr, so
    stdout holds the document alone.

    Returns:
        0 on success, 2 for a directory, manifest, declaration or tag to fix.
    """
    from .config import ConfigError, load_project

    try:
        version = DEFAULT_VERSION if args.release is None else release_tag(args.release)
        with contextlib.redirect_stdout(sys.stderr):
            project = load_project(args.directory)
            doc = build_schema(project.model_class, name=project.name, version=version)
    except (ConfigError, TypeError, ValueError) as exc:
        print(f"reactor schema: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(doc, indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        print(f"reactor schema: wrote {args.out}", file=sys.stderr)
    return 0
