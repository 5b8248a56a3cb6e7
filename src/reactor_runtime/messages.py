"""`ModelMessage`: typed messages a model sends to its viewers."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

_NO_DEFAULT: Any = dataclasses.MISSING


def MessageField(
    default: Any = _NO_DEFAULT,
    *,
    default_factory: Callable[[], Any] | None = None,
    description: str | None = None,
) -> Any:
    """A message field's default (omit it for a required field) and its description.

    Use it as the field's default: `level: float = MessageField(0.0, description="dB")`.
    `default_factory` (no arguments) makes a fresh default per message instead, as
    for a list. The description documents the field to clients (in
    `Field.metadata["description"]`).

    Raises:
        TypeError: both `default` and `default_factory` are given.
    """
    metadata = {"description": description} if description is not None else {}
    if default_factory is None:
        return dataclasses.field(default=default, metadata=metadata)
    if default is not _NO_DEFAULT:
        raise TypeError(f"MessageField: give default ({default!r}) or default_factory, not both")
    return dataclasses.field(default_factory=default_factory, metadata=metadata)


class ModelMessage:
    """Base of a dataclass sent to viewers with `await self.send(message)`.

    `@dataclass` is optional. The wire name is the snake_case class name
    (`PlaybackStarted` becomes `playback_started`) unless the class sets it,
    as `type_name = "..."` or, as the 3.x generation does, `name = "..."`; it is
    readable as `wire_type()` and, unless a field is called `name`, as the class
    attribute `name`. `user_doc` is the class's own docstring (None without).
    Fields must be JSON-serialisable; this is checked when the message is sent.
    Fields without a default may follow fields with one: they are moved first.
    """

    type_name: ClassVar[str | None] = None
    name: ClassVar[str]
    user_doc: ClassVar[str | None]
    _wire_name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        doc = cls.__dict__.get("__doc__")
        cls.user_doc = inspect.cleandoc(doc) if doc else None
        own = inspect.get_annotations(cls)
        inherited = getattr(cls, "__dataclass_fields__", {})
        name_is_field = ("name" in own and not _is_classvar(own["name"])) or "name" in inherited
        explicit = None if name_is_field else cls.__dict__.get("name")
        if explicit is not None and not isinstance(explicit, str):
            raise TypeError(
                f"{cls.__name__}.name: expected the message's wire name (a str), "
                f"got {type(explicit).__name__}"
            )
        cls._wire_name = explicit or cls.type_name or snake_case(cls.__name__)
        if not name_is_field:
            cls.name = cls._wire_name
        if "__dataclass_fields__" not in cls.__dict__:
            _required_first(cls, own)
            dataclass(cls)

    @classmethod
    def wire_type(cls) -> str:
        """The message's name on the wire."""
        return cls._wire_name

    def to_data(self) -> dict[str, Any]:
        """The message's fields as a JSON-ready dict.

        Raises:
            TypeError: a field value cannot be serialised to JSON; the message
                names the field and the offending type.
        """
        data = dataclasses.asdict(self)  # type: ignore[call-overload]
        for name, value in data.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"{type(self).__name__}.{name}: expected a JSON-serialisable value, "
                    f"got {type(value).__name__} ({exc})"
                ) from None
        return data

    def to_wire_format(self) -> dict[str, Any]:
        """The message as it travels: `{"type": <wire name>, "data": {...}}`."""
        return {"type": self.wire_type(), "data": self.to_data()}


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return annotation is ClassVar or text.startswith(("ClassVar", "typing.ClassVar"))


def _has_default(cls: type, name: str) -> bool:
    if name not in cls.__dict__:
        return False
    value = cls.__dict__[name]
    if isinstance(value, dataclasses.Field):
        return not (
            value.default is dataclasses.MISSING and value.default_factory is dataclasses.MISSING
        )
    return True


def _required_first(cls: type, own: dict[str, Any]) -> None:
    fields = [n for n, a in own.items() if not _is_classvar(a)]
    required = [n for n in fields if not _has_default(cls, n)]
    if required and fields[: len(required)] != required:
        cls.__annotations__ = {
            **{n: own[n] for n in required},
            **{n: a for n, a in own.items() if n not in required},
        }


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """`PlaybackStarted` -> `playback_started`, `HTTPError` -> `http_error`."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()
