"""`reactor init NAME [--pipeline]`: a runnable model project to start from.

The project holds a model, its manifest, its config, a script of commands and
a test that renders the model with `reactor render`; `pytest` passes in it as
written. The model comes from `templates/` (real modules, linted and run like
any other code), with `StarterModel` renamed after the project.

Each style gets the manifest of the documentation it comes from, so a newcomer
finds what the docs of that generation show: a `ReactorModel` with `run()`
(default) gets the flat `reactor.yaml` and a `load(config: dict)`;
`--pipeline` (a `ReactorPipeline` yielding from `inference()` over an
`InputState`) gets the 3.x layout, `runtime.import` / `runtime.config` /
`model.name`, and a `load(config_path: Path | None)`. Either runs here.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from pathlib import Path

from ..config import ConfigError

PLACEHOLDER = "StarterModel"
"""The class name the templates use, replaced by the project's own."""
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")

FLAT_MANIFEST = """\
model: model:{cls}
name: {name}
config: config.yml
"""
NESTED_MANIFEST = """\
model:
  name: {name}
runtime:
  import: model:{cls}
  config: config.yaml
"""
CONFIG = """\
# What load() reads: the picture's height and width.
size: [360, 640]
"""
STREAM_COMMANDS = """\
# Commands `reactor render . --commands commands.yaml` sends, at media seconds.
- at: 0.5
  event: set_speed
  args: {speed: 3}
"""
PIPELINE_COMMANDS = """\
# Commands `reactor render . --commands commands.yaml` sends, at media seconds.
- at: 0.3
  event: set_speed
  args: {speed: 3}
- at: 0.8
  event: rewind
"""
README = """\
# {name}

- `reactor run .` serves it at http://127.0.0.1:8080/ (a page with its commands).
- `reactor render . -o out.mp4 --seconds 10 --commands commands.yaml` renders it offline.
- `reactor schema .` prints its contract (OpenAPI); `pytest` runs its test.

Edit `model.py`: {what}
"""


def class_name(name: str) -> str:
    """The model class's name for a project name: `my-model` -> `MyModel`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]+", name) if part)


def create_project(target: str | Path, pipeline: bool = False) -> Path:
    """Write a runnable project into the directory `target` (created; its name names the model).

    Returns:
        The project directory.

    Raises:
        ConfigError: the name is not a letter followed by letters, digits, `-` or
            `_` (64 at most), or `target` exists and is not an empty directory.
    """
    root = Path(target)
    name = root.resolve().name
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"name: expected a letter then letters, digits, '-' or '_' (64 at most), got {name!r}"
        )
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(f"{root}: already exists and is not an empty directory")
    cls = class_name(name)
    templates = resources.files(__package__) / "templates"
    model = (templates / ("pipeline.py" if pipeline else "stream.py")).read_text()
    config_name = "config.yaml" if pipeline else "config.yml"
    manifest = NESTED_MANIFEST if pipeline else FLAT_MANIFEST
    what = "`inference()` yields a frame per step" if pipeline else "`run()` emits frames"
    files = {
        "model.py": model.replace(PLACEHOLDER, cls),
        "reactor.yaml": manifest.format(cls=cls, name=name),
        config_name: CONFIG,
        "commands.yaml": PIPELINE_COMMANDS if pipeline else STREAM_COMMANDS,
        "test_model.py": (templates / "test_model.py").read_text(),
        "README.md": README.format(name=name, what=what),
    }
    root.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (root / file_name).write_text(text)
    return root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `reactor init`."""
    parser.add_argument("name", help="the project's directory; its last part names the model")
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="a ReactorPipeline (inference() over an InputState, 3.x manifest) "
        "instead of a ReactorModel with run()",
    )


def main(args: argparse.Namespace) -> int:
    """Run `reactor init`.

    Returns:
        0 when the project was written, 2 for a name or directory to change.
    """
    try:
        root = create_project(args.name, args.pipeline)
    except ConfigError as exc:
        print(f"reactor init: error: {exc}", file=sys.stderr)
        return 2
    print(f"created {root}: cd {root} && reactor run .  (pytest runs its test)", file=sys.stderr)
    return 0
