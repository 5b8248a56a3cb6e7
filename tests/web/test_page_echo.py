"""The browser page with examples/echo: Chromium's fake webcam and mic go to the model and back."""

from __future__ import annotations

import json

import numpy as np
from web.viewer import wait_until

BARS = [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0)]


def shows_bars(picture: np.ndarray) -> bool:
    """The echo's "no webcam" pattern: colour bars across the top two thirds."""
    height, width = picture.shape[:2]
    row = picture[height // 3]
    centres = [row[int((i + 0.5) * width / 7)].astype(int) for i in range(len(BARS))]
    return all(np.abs(c - np.array(bar)).max() < 40 for c, bar in zip(centres, BARS, strict=True))


def mean_rgb(picture: np.ndarray) -> np.ndarray:
    return picture.reshape(-1, 3).mean(axis=0)


def set_effect(viewer, effect: str) -> None:
    form = viewer.page.locator("form[data-command=set_effect]")
    form.get_by_label("effect").select_option(label=effect)
    form.get_by_role("button", name="Send").click()
    # set_effect replies with the model's status: the reply shows it.
    viewer.page.wait_for_function(
        "(e) => document.querySelector('form[data-command=set_effect] .reply.ok')"
        '?.textContent.includes(`"effect":"${e}"`)',
        arg=effect,
        timeout=5000,
    )


def test_the_fake_webcam_comes_back_through_the_model_with_the_chosen_effect(echo, echo_stage):
    echo.open()
    set_effect(echo, "none")
    echo.wait_frame(shows_bars, what="with the placeholder bars")
    webcam = echo.page.get_by_role("button", name="webcam")
    assert webcam.get_attribute("aria-pressed") == "false"

    webcam.click()
    echo.wait_js("document.querySelector('[data-input=webcam]').ariaPressed === 'true'")
    # Chromium's fake camera is a green picture: the model now shows it, not its bars.
    echo.wait_frame(
        lambda p: not shows_bars(p) and mean_rgb(p)[1] > 2 * mean_rgb(p)[[0, 2]].max(),
        what="from the fake webcam (green)",
    )
    received = echo_stage.server.health()["stats"]["inputs"]["webcam"]["received"]
    assert received > 0

    set_effect(echo, "invert")
    echo.wait_frame(
        lambda p: mean_rgb(p)[[0, 2]].min() > 2 * mean_rgb(p)[1],
        what="of the inverted webcam (magenta)",
    )
    echo.wait_js(
        "[...document.querySelectorAll('#log li[data-type=echo_status] code')]"
        ".some(c => JSON.parse(c.textContent).webcam === true)"
    )

    webcam.click()
    echo.wait_frame(shows_bars, what="with the bars again after the webcam stopped")
    set_effect(echo, "none")
    assert echo.errors == []


def test_the_fake_microphone_is_echoed_back_as_audio(echo):
    echo.open()
    echo.wait_js("window.reactorPage.stats?.audioSamples > 48000")
    silent = echo.stats()["audioEnergy"]
    assert silent < 1e-6, "the echo plays silence until the mic is on"

    echo.page.get_by_role("button", name="mic").click()
    echo.wait_js("window.reactorPage.stats?.audioEnergy > 0.05", timeout=10)
    status = echo.page.locator("[data-input=mic] + .input-status")
    assert status.inner_text() == "sending"
    log = echo.page.locator("#log li[data-type=echo_status] code")
    assert any(json.loads(text)["mic"] for text in log.all_inner_texts())


def test_closing_the_tab_runs_the_echos_disconnect_within_5_seconds(echo, echo_stage):
    echo.open()
    echo.page.get_by_role("button", name="webcam").click()
    server = echo_stage.server
    wait_until(
        lambda: server.health()["media"]["inputs"].get("webcam") is not None, 5, "webcam claimed"
    )
    echo.page.close()
    wait_until(lambda: server.health()["viewers"] == 0, 5, "the viewer left")
    wait_until(lambda: not server.health()["media"]["inputs"], 2, "the webcam was released")
