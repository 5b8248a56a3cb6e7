"""Finding a model: its manifest (`reactor.yaml`), its config file and what `load()` is given.

Two manifest layouts are read, and both describe the same thing:

- flat: `model: module:Class`, `name: ...`, `config: config.yml`;
- nested, as the 3.x generation writes it: `runtime.import: module:Class`,
  `runtime.config: path`, `model.name: ...`. A `recording:` block (under
  `runtime:` or at the top) is accepted and reported as not supported yet.

`load()` gets what its signature asks for: the parsed config (a dict, `{}` if
none), or the config file's `Path` (`None` if none) when its parameter is
annotated `Path` / `Path | None` or named `config_path`.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .model import ReactorModel

log = logging.getLogger(__name__)

WEIGHTS_ENV = "REACTOR_WEIGHTS_PATH"
"""Environment variable naming the folder model weights live under."""
DEFAULT_WEIGHTS_PATH = "~/.cache/reactor_registry"
"""Where weights live when `$REACTOR_WEIGHTS_PATH` is unset: the folder the 3.x
generation uses, so weights it already fetched are found."""

_TARGET = re.compile(r"[\w.]+:\w+")
_NESTED_KEYS = {"import", "config"}
_UNSUPPORTED = {
    "recording": "sessions are not recorded",
    "step_results": "step results are not kept",
    "livekit": "LiveKit rooms are not served",
}


class ConfigError(Exception):
    """A model directory, `reactor.yaml` or config file that cannot be used; says what to fix."""


class Config(dict[str, Any]):
    """The parsed config file, a plain dict that also remembers `path`, the file it came from."""

    path: Path | None

    def __init__(self, values: dict[str, Any] | None = None, path: Path | None = None) -> None:
        super().__init__(values or {})
        self.path = path


@dataclass
class Project:
    """A loadable model: its class, its config, its name, and what reading it reported.

    `warnings` lists manifest entries that were accepted but are not supported
    (each also logged).
    """

    model_class: type[ReactorModel]
    name: str
    config: dict[str, Any] = field(default_factory=Config)
    root: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def config_path(self) -> Path | None:
        """The config file the manifest names, or None."""
        return getattr(self.config, "path", None)


def get_weights_path() -> Path:
    """The folder model weights live under: `$REACTOR_WEIGHTS_PATH`, else the cache folder.

    The path is `~`-expanded; it need not exist.
    """
    return Path(os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS_PATH).expanduser()


def load_wants_path(model_class: type[ReactorModel]) -> bool | None:
    """What `model_class.load` asks for: True for the config `Path`, False for the dict.

    Returns:
        None when `load` takes no argument at all.
    """
    params = list(inspect.signature(model_class.load).parameters.values())[1:]
    if not params or params[0].kind in (params[0].VAR_POSITIONAL, params[0].VAR_KEYWORD):
        return None if not params else False
    param = params[0]
    if param.name == "config_path":
        return True
    try:
        annotation = typing.get_type_hints(model_class.load).get(param.name)
    except Exception:
        # An unresolvable annotation is still readable as text.
        annotation = param.annotation
        if isinstance(annotation, str):
            return (
                re.fullmatch(r"(Optional\[)?(pathlib\.)?Path(\s*\|\s*None|\])?", annotation)
                is not None
            )
    candidates = [annotation, *typing.get_args(annotation)]
    return any(isinstance(c, type) and issubclass(c, Path) for c in candidates)


def call_load(model: ReactorModel, config: dict[str, Any], config_path: Path | None) -> None:
    """Call `model.load()` with what its signature asks for (see `load_wants_path`)."""
    wants_path = load_wants_path(type(model))
    if wants_path is None:
        model.load()  # type: ignore[call-arg]
    elif wants_path:
        if config:
            log.warning(
                "%s.load() takes the config file's path; config values given here (%s) "
                "do not reach it",
                type(model).__name__,
                ", ".join(sorted(config)),
            )
        model.load(config_path)  # type: ignore[arg-type]
    else:
        model.load(config)


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.stat().st_size else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {what} is not valid YAML: {exc}") from None


@dataclass
class _Manifest:
    target: str
    name: str | None
    config_file: str | None
    warnings: list[str]


def _flat(path: Path, manifest: dict[str, Any]) -> _Manifest:
    target = manifest.get("model")
    if not isinstance(target, str) or not _TARGET.fullmatch(target):
        raise ConfigError(
            f"{path}: 'model' must be 'module:Class' (e.g. model:MyModel), got {target!r}"
        )
    name = manifest.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{path}: 'name' must be a string, got {type(name).__name__}")
    config_file = manifest.get("config")
    if config_file is not None and not isinstance(config_file, str):
        raise ConfigError(f"{path}: 'config' must be a file name, got {config_file!r}")
    return _Manifest(target, name, config_file, [])


def _nested(path: Path, manifest: dict[str, Any]) -> _Manifest:
    runtime = manifest["runtime"]
    if not isinstance(runtime, dict):
        raise ConfigError(
            f"{path}: 'runtime' must be a mapping with 'import: module:Class', "
            f"got {type(runtime).__name__}"
        )
    target = runtime.get("import")
    if not isinstance(target, str) or not _TARGET.fullmatch(target):
        raise ConfigError(
            f"{path}: 'runtime.import' must be 'module:Class' (e.g. model:MyModel), got {target!r}"
        )
    config_file = runtime.get("config")
    if config_file is not None and not isinstance(config_file, str):
        raise ConfigError(f"{path}: 'runtime.config' must be a file path, got {config_file!r}")
    model = manifest.get("model")
    if model is not None and not isinstance(model, dict):
        raise ConfigError(
            f"{path}: 'model' must be a mapping (e.g. name: my-model) next to 'runtime', "
            f"got {model!r}"
        )
    name = (model or {}).get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{path}: 'model.name' must be a string, got {type(name).__name__}")
    warnings = []
    present = [f"runtime.{k}" for k in runtime if k not in _NESTED_KEYS]
    present += ["recording"] if "recording" in manifest else []
    for key in present:
        reason = _UNSUPPORTED.get(key.rpartition(".")[2], "this runtime does not read it")
        warnings.append(f"{path}: '{key}' is not supported yet ({reason}); ignored")
    return _Manifest(target, name, config_file, warnings)


def load_project(directory: str | Path, overrides: dict[str, Any] | None = None) -> Project:
    """Read `DIR/reactor.yaml` (either layout), import the model class and find its config.

    The config file is parsed unless the model's `load()` asks for its path.

    Raises:
        ConfigError: the file is missing or malformed (the message names the key,
            the expected and the actual value), the module or class cannot be
            found, or the class is not a `ReactorModel` subclass.
    """
    root = Path(directory).resolve()
    manifest_path = root / "reactor.yaml"
    if not manifest_path.is_file():
        if root.is_file() and root.name in ("reactor.yaml", "reactor.yml"):
            manifest_path, root = root, root.parent
        else:
            raise ConfigError(f"{manifest_path}: not found (a model directory needs reactor.yaml)")
    manifest = _read_yaml(manifest_path, "reactor.yaml")
    if not isinstance(manifest, dict):
        raise ConfigError(
            f"{manifest_path}: expected a mapping with 'model: module:Class' or "
            f"'runtime: {{import: module:Class}}', got {type(manifest).__name__}"
        )
    found = (
        _nested(manifest_path, manifest)
        if "runtime" in manifest
        else _flat(manifest_path, manifest)
    )
    for warning in found.warnings:
        log.warning("%s", warning)
    model_class = import_model(root, found.target)
    key = "runtime.config" if "runtime" in manifest else "config"
    config = Config()
    if found.config_file is not None:
        config_path = (root / found.config_file).resolve()
        if not config_path.is_file():
            raise ConfigError(f"{config_path}: not found (named by '{key}' in {manifest_path})")
        config.path = config_path
        if not load_wants_path(model_class):
            parsed = _read_yaml(config_path, "config")
            if parsed is not None and not isinstance(parsed, dict):
                raise ConfigError(f"{config_path}: expected a mapping, got {type(parsed).__name__}")
            config.update(parsed or {})
    config.update(overrides or {})
    return Project(model_class, found.name or model_class.__name__, config, root, found.warnings)


def import_model(root: Path, target: str) -> type[ReactorModel]:
    """Import `module:Class` from the model directory `root`.

    Raises:
        ConfigError: the module file or the class is missing, or the class is not a model.
    """
    module_name, class_name = target.split(":")
    module_path = root.joinpath(*module_name.split("."))
    candidates = [module_path.with_suffix(".py"), module_path / "__init__.py"]
    source = next((c for c in candidates if c.is_file()), None)
    if source is None:
        raise ConfigError(f"{root}: module '{module_name}' not found (looked for {candidates[0]})")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    unique = f"reactor_model_{abs(hash(str(source)))}_{module_name.replace('.', '_')}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[unique]
            raise
    model_class = getattr(module, class_name, None)
    if model_class is None:
        raise ConfigError(f"{source}: no class '{class_name}' (named by '{target}')")
    if not (isinstance(model_class, type) and issubclass(model_class, ReactorModel)):
        raise ConfigError(
            f"{source}: '{class_name}' must be a subclass of reactor_runtime.ReactorModel, "
            f"got {model_class!r}"
        )
    return model_class
