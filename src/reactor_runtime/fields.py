"""`InputField`: a command parameter's (or state field's) default and constraints."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

UNSET: Any = inspect.Parameter.empty
"""The default of a field that has none (the field is required)."""


@dataclass(frozen=True)
class InputField:
    """A command parameter's default and constraints.

    Use it as the parameter's default: `speed: float = InputField(1.0, ge=0, le=4)`.
    Omit `default` for a required parameter; `default_factory` (a callable with no
    arguments, as in 3.x) makes a fresh default each time one is needed. A default
    that breaks its own constraints is refused when the class is defined.
    `moderate=True` marks a free-text field for content moderation in the
    published schema (a mark only: the runtime moderates nothing).
    """

    default: Any = UNSET
    description: str | None = None
    ge: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[Any, ...] | list[Any] | None = None
    moderate: bool = False
    default_factory: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        if self.default is not UNSET and self.default_factory is not None:
            raise TypeError(
                f"InputField: give default ({self.default!r}) or default_factory, not both"
            )

    @property
    def required(self) -> bool:
        """True when the field has neither a default nor a default factory."""
        return self.default is UNSET and self.default_factory is None

    def make_default(self) -> Any:
        """The field's default: `default_factory()` if set, else `default` (`UNSET` if none)."""
        return self.default if self.default_factory is None else self.default_factory()

    def violation(self) -> str | None:
        """Why the default breaks this field's own constraints, or None if it does not."""
        value = self.make_default()
        if value is UNSET or value is None:
            return None
        try:
            if self.choices is not None and value not in self.choices:
                return f"{value!r} is not one of choices {list(self.choices)}"
            if self.ge is not None and value < self.ge:
                return f"{value!r} < ge={self.ge}"
            if self.le is not None and value > self.le:
                return f"{value!r} > le={self.le}"
            if self.min_length is not None and len(value) < self.min_length:
                return f"length {len(value)} < min_length={self.min_length}"
            if self.max_length is not None and len(value) > self.max_length:
                return f"length {len(value)} > max_length={self.max_length}"
        except TypeError as exc:
            return f"{value!r} cannot be checked against its constraints ({exc})"
        return None


def check_defaults(owner: str, func: Callable[..., Any]) -> None:
    """Refuse a parameter whose `InputField` default breaks its own constraints.

    Raises:
        TypeError: naming `owner`, the parameter, the default and the constraint.
    """
    for param in inspect.signature(func).parameters.values():
        if isinstance(param.default, InputField):
            problem = param.default.violation()
            if problem is not None:
                raise TypeError(
                    f"{owner}: parameter '{param.name}': the default breaks its own "
                    f"InputField constraints ({problem})"
                )
