"""Finding a model: `reactor.yaml` (`model: module:Class`, `name:`, `config:`) and `config.yml`."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .model import ReactorModel


class ConfigError(Exception):
    """A model directory, `reactor.yaml` or `config.yml` that cannot be used; says what to fix."""


@dataclass
class Project:
    """A loadable model: its class, its parsed config and its name."""

    model_class: type[ReactorModel]
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.stat().st_size else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {what} is not valid YAML: {exc}") from None


def load_project(directory: str | Path, overrides: dict[str, Any] | None = None) -> Project:
    """Read `DIR/reactor.yaml`, import the model class and parse its config.

    Raises:
        ConfigError: the file is missing or malformed, the module or class cannot
            be found, or the class is not a `ReactorModel` subclass.
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
            f"{manifest_path}: expected a mapping with 'model: module:Class', "
            f"got {type(manifest).__name__}"
        )
    target = manifest.get("model")
    if not isinstance(target, str) or not re.fullmatch(r"[\w.]+:\w+", target):
        raise ConfigError(
            f"{manifest_path}: 'model' must be 'module:Class' (e.g. model:MyModel), got {target!r}"
        )
    model_class = import_model(root, target)
    name = manifest.get("name") or model_class.__name__
    if not isinstance(name, str):
        raise ConfigError(f"{manifest_path}: 'name' must be a string, got {type(name).__name__}")
    config: dict[str, Any] = {}
    config_file = manifest.get("config")
    if config_file is not None:
        if not isinstance(config_file, str):
            raise ConfigError(f"{manifest_path}: 'config' must be a file name, got {config_file!r}")
        config_path = root / config_file
        if not config_path.is_file():
            raise ConfigError(f"{config_path}: not found (named by 'config' in {manifest_path})")
        parsed = _read_yaml(config_path, "config")
        if parsed is not None and not isinstance(parsed, dict):
            raise ConfigError(f"{config_path}: expected a mapping, got {type(parsed).__name__}")
        config = parsed or {}
    config.update(overrides or {})
    return Project(model_class, name, config, root)


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
        raise ConfigError(f"{source}: no class '{class_name}' (named by 'model: {target}')")
    if not (isinstance(model_class, type) and issubclass(model_class, ReactorModel)):
        raise ConfigError(
            f"{source}: '{class_name}' must be a subclass of reactor_runtime.ReactorModel, "
            f"got {model_class!r}"
        )
    return model_class
