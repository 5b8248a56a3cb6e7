"""The README's 3.x-style model and manifest run as written, next to the seed-style one."""

import re
from pathlib import Path

import pytest
from sessions import running

from reactor_runtime import CommandError
from reactor_runtime.config import load_project
from reactor_runtime.pipeline import ReactorPipeline

README = Path(__file__).resolve().parents[1] / "README.md"


def block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)
    return next(b for b in blocks if containing in b)


async def test_the_readme_pipeline_loads_from_its_manifest_streams_and_takes_set_speed(tmp_path):
    (tmp_path / "model.py").write_text(block("python", "class MyPipeline"))
    (tmp_path / "reactor.yaml").write_text(block("yaml", "runtime:"))
    (tmp_path / "config.yaml").write_text("")
    project = load_project(tmp_path)
    assert issubclass(project.model_class, ReactorPipeline) and project.name == "my-pipeline"
    async with running(project.model_class) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 3)
        assert rec.frames[0].video["main_video"].shape == (360, 640, 3)
        assert await session.dispatch("set_speed", {"speed": 3}) is None
        assert session.model.state.speed == 3.0
        with pytest.raises(CommandError, match="speed"):
            await session.dispatch("set_speed", {"speed": 9})
        assert set(session.commands.commands) == {"set_speed"}
