"""Manifests of both generations, what `load()` receives, and the weights folder."""

import logging
import textwrap
from pathlib import Path

import pytest

from reactor_runtime import get_weights_path
from reactor_runtime.config import ConfigError, load_project
from reactor_runtime.session import Session

MODEL = """
from pathlib import Path
from reactor_runtime import Output, ReactorModel, Video

class Frames(Output):
    main_video: Video

class {name}(ReactorModel):
    def load(self, {param}):
        type(self).received = {var}

    async def run(self):
        pass
"""


def project_dir(tmp_path: Path, manifest: str, param: str = "config", config: str | None = None):
    name = f"M{abs(hash((str(tmp_path), param)))}"
    (tmp_path / "model.py").write_text(
        MODEL.format(name=name, param=param, var=param.split(":")[0])
    )
    (tmp_path / "reactor.yaml").write_text(textwrap.dedent(manifest).format(name=name))
    if config is not None:
        (tmp_path / "settings.yml").write_text(config)
    return tmp_path


async def loaded_with(project) -> object:
    session = Session(project.model_class, project.config, project.name)
    await session.start()
    await session.stop()
    return project.model_class.received


async def test_a_flat_manifest_gives_load_the_parsed_config(tmp_path):
    root = project_dir(
        tmp_path, "model: model:{name}\nname: flat\nconfig: settings.yml\n", config="steps: 4\n"
    )
    project = load_project(root)

    assert project.name == "flat"
    assert await loaded_with(project) == {"steps": 4}
    assert project.config_path == root / "settings.yml"


async def test_a_nested_manifest_gives_a_path_annotated_load_the_config_file(tmp_path):
    manifest = """
        model:
          name: nested-model
        runtime:
          import: model:{name}
          config: settings.yml
    """
    root = project_dir(tmp_path, manifest, "config_path: Path | None", config="not: [parsed")
    project = load_project(root)

    assert project.name == "nested-model"
    assert await loaded_with(project) == root / "settings.yml"


@pytest.mark.parametrize("param", ["config_path", "config_path: Path | None = None"])
async def test_a_load_asking_for_a_path_gets_none_without_a_config_file(tmp_path, param):
    root = project_dir(tmp_path, "runtime:\n  import: model:{name}\n", param)

    assert await loaded_with(load_project(root)) is None


async def test_a_nested_manifest_gives_a_dict_load_the_parsed_config(tmp_path):
    manifest = "runtime:\n  import: model:{name}\n  config: settings.yml\n"
    root = project_dir(tmp_path, manifest, "config: dict", config="prompt: hi\n")

    assert await loaded_with(load_project(root)) == {"prompt": "hi"}


def test_a_recording_block_is_accepted_and_reported_as_not_supported(tmp_path, caplog):
    manifest = "runtime:\n  import: model:{name}\n  recording:\n    enabled: true\n"
    root = project_dir(tmp_path, manifest)

    with caplog.at_level(logging.WARNING, logger="reactor_runtime.config"):
        project = load_project(root)

    assert project.warnings == [
        f"{root / 'reactor.yaml'}: 'runtime.recording' is not supported yet "
        "(sessions are not recorded); ignored"
    ]
    assert project.warnings[0] in caplog.text


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        ("runtime: [model:M]\n", r"'runtime' must be a mapping .* got list"),
        ("runtime:\n  import: model.M\n", r"'runtime.import' must be 'module:Class' .* 'model.M'"),
        ("runtime:\n  import: model:M\n  config: 3\n", r"'runtime.config' must be a file path.*3"),
        ("model: 7\nruntime:\n  import: model:M\n", r"'model' must be a mapping .* got 7"),
        ("model: {{name: 5}}\nruntime: {{import: model:M}}\n", r"'model.name' must be a str.*int"),
        (
            "runtime:\n  import: model:{name}\n  config: nope.yml\n",
            r"nope.yml: not found .*runtime.config",
        ),
        ("model: model\n", r"'model' must be 'module:Class' .* got 'model'"),
    ],
)
def test_a_bad_manifest_names_the_key_the_expected_and_the_actual_value(
    tmp_path, manifest, problem
):
    with pytest.raises(ConfigError, match=problem):
        load_project(project_dir(tmp_path, manifest))


def test_weights_live_under_the_environment_folder_else_a_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("REACTOR_WEIGHTS_PATH", str(tmp_path))
    assert get_weights_path() == tmp_path
    monkeypatch.delenv("REACTOR_WEIGHTS_PATH")
    assert get_weights_path() == Path.home() / ".cache" / "reactor_registry"
