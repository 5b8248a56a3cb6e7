"""The page builds its command forms from the published contract, for a 3.x-style pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web.conftest import Stage, _stage
from web.viewer import ROOT, Viewer


@pytest.fixture(scope="module")
def pipeline_stage() -> Iterator[Stage]:
    """`reactor run examples/brightness_3x` and Chromium, inside a private network."""
    yield from _stage(str(ROOT / "examples" / "brightness_3x"))


@pytest.fixture
def viewer(pipeline_stage: Stage) -> Iterator[Viewer]:
    tab = pipeline_stage.viewer()
    try:
        yield tab
    finally:
        tab.close()


def test_the_state_setter_form_comes_from_get_schema_and_steers_the_picture(viewer):
    viewer.open()
    form = viewer.page.locator("form[data-command=set_brightness]")
    form.wait_for(timeout=5000)
    fetched = viewer.page.evaluate(
        "performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)"
    )
    assert "/schema" in fetched
    slider = form.locator("input[type=range]")
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == ("0", "3")
    assert form.locator("input[type=number]").input_value() == "1"
    before = viewer.wait_frame(lambda p: p.mean() > 60, what="of the test picture").mean()
    form.locator("input[type=number]").fill("2")
    form.get_by_role("button", name="Send").click()
    form.locator(".reply.ok").wait_for(timeout=5000)
    viewer.wait_frame(lambda p: p.mean() > before * 1.5, what="twice as bright")
    assert not viewer.errors, viewer.errors
