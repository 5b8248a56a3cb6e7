"""Which generation's API a model class is written against: the seed's, or 3.x.

Both generations are served by the same runtime; the few places where they
disagree on a shape ask `generation()` here, and nowhere else decides it. A
model is 3.x style when any of these holds, else seed style:

- it is a `ReactorPipeline` or a `ReactorApp` (those bases exist only in 3.x);
- it binds its input tracks the 3.x way, as a class annotation naming one of
  its `Input` classes (`camera: Camera`, read as `self.camera.webcam`);
- its `load()` takes the config file's path (`load(self, config_path)`), the
  only `load` 3.x has (seed models take the parsed config dict).

What differs today: a 3.x-style model's input reads (`try_read` / `read`)
return a list of frames whatever `n`; a seed-style model's return one frame
when `n == 1` (see `media.input_buffer`).
"""

from __future__ import annotations

import inspect
import sys
from typing import Literal

from .config import load_wants_path
from .model import ReactorModel
from .stateful import StatefulModel
from .tracks import Input

Generation = Literal["seed", "3x"]


def generation(model_class: type[ReactorModel]) -> Generation:
    """`"3x"` or `"seed"`, by the rules of this module's docstring."""
    if issubclass(model_class, StatefulModel) or input_holders(model_class):
        return "3x"
    try:
        wants_path = load_wants_path(model_class)
    except (TypeError, ValueError):
        wants_path = False
    return "3x" if wants_path else "seed"


def input_holders(model_class: type) -> list[str]:
    """The attributes a model class annotates with one of its `Input` classes (3.x binding).

    Annotations that cannot be resolved are not holders (they are someone else's
    business: `state:` is checked by `state.state_class`).
    """
    holders: list[str] = []
    for klass in reversed(model_class.__mro__):
        namespace = vars(sys.modules.get(klass.__module__, sys))
        for name, annotation in inspect.get_annotations(klass).items():
            if isinstance(annotation, str):
                try:
                    annotation = eval(annotation, namespace)
                except Exception:
                    continue
            is_input = isinstance(annotation, type) and issubclass(annotation, Input)
            if is_input and annotation is not Input and name not in holders:
                holders.append(name)
    return holders
