"""`InputState`: a model's client-settable, session-scoped state, and its `set_<field>` commands.

A model names its state class with an annotation, `state: MyState`. Each public
field (no leading underscore) becomes a command `set_<field>`, validated like a
hand-written `@event` from the field's annotation and `InputField`; a
hand-written `@event` of that name wins. `_private` fields are the model's own
and never reach clients. A fresh instance is built, from the defaults, when a
session starts.
"""

from __future__ import annotations

import copy
import inspect
import sys
import typing
from collections.abc import Callable
from typing import Any, ClassVar

from .events import EventInfo
from .fields import UNSET, InputField

GENERATED = "_reactor_generated_setter"
"""Attribute naming the state field of a generated `set_<field>` handler."""


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return annotation is ClassVar or text.startswith(("ClassVar", "typing.ClassVar"))


class InputState:
    """Base of a model's state: annotated fields, with defaults or `InputField(...)`.

    A public field without a default is required: it is unset until a client
    sends `set_<field>`, and reading it before raises an `AttributeError` that
    says so. A private field needs a default. Mutable defaults are copied for
    each instance, so sessions never share them. A default that breaks its
    own `InputField` constraints is refused when the class is defined.
    """

    _public_fields: ClassVar[dict[str, InputField]] = {}
    _private_fields: ClassVar[dict[str, Any]] = {}
    _field_types: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        public = dict(cls._public_fields)
        private = dict(cls._private_fields)
        types = dict(cls._field_types)
        module = vars(sys.modules.get(cls.__module__, sys))
        for name, annotation in inspect.get_annotations(cls).items():
            if _is_classvar(annotation):
                continue
            if isinstance(annotation, str):
                try:
                    annotation = eval(annotation, module, dict(vars(cls)))
                except Exception:
                    annotation = Any
            raw = cls.__dict__.get(name, UNSET)
            if raw is not UNSET:
                delattr(cls, name)
            public.pop(name, None)
            private.pop(name, None)
            types[name] = annotation
            if name.startswith("_"):
                if raw is UNSET:
                    raise TypeError(
                        f"{cls.__name__}.{name}: a private field needs a default (the state "
                        f"is built from defaults when a session starts, and no client sets it)"
                    )
                private[name] = raw
                continue
            spec = raw if isinstance(raw, InputField) else InputField(raw)
            problem = spec.violation()
            if problem is not None:
                raise TypeError(
                    f"{cls.__name__}.{name}: the default breaks its own InputField "
                    f"constraints ({problem})"
                )
            public[name] = spec
        cls._public_fields, cls._private_fields, cls._field_types = public, private, types

    def __init__(self, **values: Any) -> None:
        """Build the state from its defaults, then `values` (public fields only).

        Raises:
            TypeError: a name in `values` is not a public field.
        """
        for name, spec in self._public_fields.items():
            if not spec.required:
                setattr(self, name, copy.deepcopy(spec.make_default()))
        for name, default in self._private_fields.items():
            setattr(self, name, copy.deepcopy(default))
        for name, value in values.items():
            if name not in self._public_fields:
                known = ", ".join(self._public_fields) or "none"
                raise TypeError(
                    f"{type(self).__name__}: '{name}' is not a public field (fields: {known})"
                )
            setattr(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if name in type(self)._public_fields:
            raise AttributeError(
                f"{type(self).__name__}.{name} is required and not set yet: a client sends "
                f"set_{name} first"
            )
        raise AttributeError(f"{type(self).__name__} has no field '{name}'")

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={vars(self)[name]!r}" for name in self._public_fields if name in vars(self)
        )
        return f"{type(self).__name__}({shown})"


def state_class(model_class: type) -> type[InputState] | None:
    """The `InputState` subclass a model class names as `state: ...`, or None.

    Raises:
        TypeError: the annotation cannot be resolved, or is not an `InputState` subclass.
    """
    for klass in model_class.__mro__:
        annotation = inspect.get_annotations(klass).get("state")
        if annotation is None:
            continue
        if isinstance(annotation, str):
            module = vars(sys.modules.get(klass.__module__, sys))
            try:
                annotation = eval(annotation, module)
            except NameError as exc:
                raise TypeError(
                    f"{model_class.__name__}.state: cannot resolve {annotation!r} ({exc}); "
                    f"define the state class before the model"
                ) from None
        if annotation is Any or annotation is typing.Any:
            return None
        if not (isinstance(annotation, type) and issubclass(annotation, InputState)):
            raise TypeError(
                f"{model_class.__name__}.state: expected an InputState subclass, got {annotation!r}"
            )
        return annotation
    return None


def stamp_setters(model_class: type, state: type[InputState]) -> None:
    """Give `model_class` one `set_<field>` command per public field of `state`.

    A hand-written `@event` with that wire name wins. Setters a base class
    generated for fields `state` does not have are hidden.
    """
    claimed = set()
    for klass in model_class.__mro__:
        for attr, value in vars(klass).items():
            info = getattr(value, "_reactor_event", None)
            if isinstance(info, EventInfo) and not hasattr(value, GENERATED):
                claimed.add(info.name or attr)
    for klass in model_class.__mro__[1:]:
        for attr, value in vars(klass).items():
            if getattr(value, GENERATED, None) not in (None, *state._public_fields):
                setattr(model_class, attr, None)
    for name, spec in state._public_fields.items():
        command = f"set_{name}"
        if command not in claimed:
            setattr(model_class, f"_reactor_{command}", _setter(name, spec, state))


def _setter(name: str, spec: InputField, state: type[InputState]) -> Callable[..., None]:
    def setter(self: Any, **values: Any) -> None:
        if self.state is not None:
            setattr(self.state, name, values[name])

    constrained = spec != InputField(spec.default)
    default = spec if constrained else spec.default
    annotation = state._field_types.get(name, Any)
    setter.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default),
        ]
    )
    setter.__annotations__ = {name: annotation, "return": None}
    setter.__name__ = setter.__qualname__ = f"set_{name}"
    description = spec.description or f"Set {name}."
    setter._reactor_event = EventInfo(f"set_{name}", description)  # type: ignore[attr-defined]
    setattr(setter, GENERATED, name)
    return setter
