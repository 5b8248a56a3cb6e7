"""`ModelMessage`: typed messages a model sends to its viewers."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar


class ModelMessage:
    """Base of a dataclass sent to viewers with `await self.send(message)`.

    The wire name is the snake_case class name (`PlaybackStarted` becomes
    `playback_started`) unless the class sets `type_name`. Fields must be
    JSON-serialisable; this is checked when the message is sent.
    """

    type_name: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__dataclass_fields__" not in cls.__dict__:
            dataclass(cls)

    @classmethod
    def wire_type(cls) -> str:
        """The message's name on the wire."""
        return cls.type_name or snake_case(cls.__name__)

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


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """`PlaybackStarted` -> `playback_started`, `HTTPError` -> `http_error`."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()
