"""The README's model example runs as written."""

import re
import sys
import types
from pathlib import Path

from sessions import running

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_model_module() -> types.ModuleType:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    module = types.ModuleType("readme_model")
    sys.modules["readme_model"] = module
    exec(compile(blocks[0], "README.md", "exec"), module.__dict__)
    return module


async def test_readme_model_streams_and_answers_its_command():
    model = readme_model_module().MyModel
    async with running(model) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 3)
        assert rec.frames[0].video["main_video"].shape == (360, 640, 3)
        assert await session.dispatch("set_speed", {"speed": 3}) == (
            "speed_changed",
            {"speed": 3.0},
        )
