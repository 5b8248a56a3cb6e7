"""`StatefulModel`: what the 3.x-only bases share, a typed per-session `self.state`.

`ReactorPipeline` (a generator) and `ReactorApp` (three step hooks) are both a
`ReactorModel` whose `run()` drives the author's code one turn at a time under
the model's step lock. This base gives them the rest: `state: MyState` (an
`InputState`) stamps one `set_<field>` command per public field when the class
is defined, and `self.state` is built fresh when a session starts and is None
after it ends.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .model import ReactorModel
from .state import InputState, stamp_setters, state_class


class StatefulModel(ReactorModel):
    """Base of the 3.x-style models with a typed per-session `state`; not used directly."""

    state: Any = None
    _state_class: ClassVar[type[InputState] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = state_class(cls)
        cls._state_class = found
        if found is not None:
            stamp_setters(cls, found)

    def _session_begins(self) -> None:
        self.state = None if self._state_class is None else self._state_class()

    def _session_ends(self) -> None:
        self.state = None


def fps_pinned(model_class: type) -> bool:
    """True when the author's classes set `fps` (the runtime's default is not a pin).

    An unpinned model's emits declare the time each turn took as their
    `compute_time`, so playback follows the model's own pace.
    """
    return any(
        "fps" in vars(klass)
        for klass in model_class.__mro__
        if not klass.__module__.startswith("reactor_runtime.")
    )
