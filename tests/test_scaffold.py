"""`reactor init`: a project a newcomer starts from, whose own test passes as written."""

import subprocess
import sys

import pytest
import yaml

from reactor_runtime.cli import main as reactor
from reactor_runtime.config import load_project
from reactor_runtime.pipeline import ReactorPipeline
from reactor_runtime.scaffold import class_name


def run_its_test(project):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=120)


def test_reactor_init_writes_a_flat_project_whose_own_render_test_passes(tmp_path):
    project = tmp_path / "my-model"
    assert reactor(["init", str(project)]) == 0
    assert yaml.safe_load((project / "reactor.yaml").read_text()) == {
        "model": "model:MyModel",
        "name": "my-model",
        "config": "config.yml",
    }
    loaded = load_project(project)
    assert loaded.model_class.__name__ == "MyModel" and loaded.config["size"] == [360, 640]
    done = run_its_test(project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_reactor_init_pipeline_writes_a_3x_project_whose_own_render_test_passes(tmp_path):
    project = tmp_path / "piped_model"
    assert reactor(["init", str(project), "--pipeline"]) == 0
    manifest = yaml.safe_load((project / "reactor.yaml").read_text())
    assert manifest == {
        "model": {"name": "piped_model"},
        "runtime": {"import": "model:PipedModel", "config": "config.yaml"},
    }
    loaded = load_project(project)
    assert issubclass(loaded.model_class, ReactorPipeline) and loaded.name == "piped_model"
    done = run_its_test(project)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["9lives", "has space", "dot.ted"])
def test_reactor_init_refuses_a_name_that_cannot_name_a_class(tmp_path, capsys, name):
    assert reactor(["init", str(tmp_path / name)]) == 2
    assert "name: expected a letter then letters" in capsys.readouterr().err
    assert not (tmp_path / name).exists()


def test_reactor_init_leaves_a_non_empty_directory_alone(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "model.py").write_text("mine")
    assert reactor(["init", str(tmp_path / "taken")]) == 2
    assert "not an empty directory" in capsys.readouterr().err
    assert (tmp_path / "taken" / "model.py").read_text() == "mine"
    assert class_name("my-cool_model") == "MyCoolModel"
