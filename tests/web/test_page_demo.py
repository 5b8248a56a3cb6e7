"""The browser page against the built-in demo, in Chromium inside a private network."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
from web.viewer import ROOT, SPARE_PORT, matching, serve, wait_until

from reactor_runtime.demo import COLORS

SCREENSHOT = ROOT / "docs" / "screenshot.png"
ORANGE, BLUE = COLORS["orange"], COLORS["blue"]
DISC_PIXELS = 150
"""The disc (radius 44) covers ~380 pixels of a quarter-size picture; its edge blurs."""


def decode_png(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def select_color(viewer, color: str) -> None:
    form = viewer.page.locator("form[data-command=set_color]")
    form.locator("select").select_option(label=color)
    form.get_by_role("button", name="Send").click()
    # set_color replies with a bare ack; the new setting comes as a demo_status message.
    viewer.page.wait_for_function(
        "(c) => document.querySelector('#log li[data-type=demo_status] code')"
        '?.textContent.includes(`"color":"${c}"`)',
        arg=color,
        timeout=5000,
    )
    form.locator(".reply.ok").wait_for(timeout=5000)
    assert form.locator(".reply.ok").inner_text() == "✓ done"


def test_the_page_plays_the_demo_with_its_colours_and_no_console_errors(demo, tmp_path):
    demo.open()
    select_color(demo, "orange")
    demo.wait_js("window.reactorPage.stats?.framesDecoded > 0")
    first = demo.stats()["framesDecoded"]
    demo.wait_js(f"window.reactorPage.stats?.framesDecoded > {first + 15}")
    stats = demo.stats()
    assert (stats["width"], stats["height"]) == (640, 360)
    assert stats["fps"] > 15

    shot = tmp_path / "video.png"
    demo.page.locator("#screens video").screenshot(path=str(shot))
    picture = decode_png(shot)
    assert picture.std() > 30, "the video element shows a blank picture"
    # Only the disc reaches 255 in red: the gradient peaks at 220.
    assert matching(picture, ORANGE, 35) > 1000, "no orange disc on screen"
    hues = picture.reshape(-1, 3).std(axis=0)
    assert (hues > 30).all(), "the demo gradient spans every channel"

    demo.wait_frame(lambda p: matching(p, ORANGE, 35) > DISC_PIXELS, what="with the orange disc")
    assert demo.errors == []

    if os.environ.get("REACTOR_UPDATE_SCREENSHOT") == "1":
        demo.wait_js("document.querySelectorAll('#log li').length > 0")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        demo.page.screenshot(path=str(SCREENSHOT))


def test_the_message_the_model_sends_on_connect_reaches_the_log(demo):
    # The viewer joins when ICE/DTLS connect, before the page's data channel opens:
    # the model's @connected message must be held for it, not dropped.
    demo.open()
    demo.wait_js("document.querySelectorAll('#log li[data-type=demo_status]').length >= 1")


def test_every_demo_command_has_a_form_and_set_color_changes_the_frames(demo):
    demo.open()
    forms = demo.page.locator("form[data-command]")
    assert sorted(forms.evaluate_all("fs => fs.map(f => f.dataset.command)")) == [
        "set_color",
        "set_speed",
        "set_tone",
    ]
    color = demo.page.get_by_label("color", exact=True)
    assert color.evaluate("s => [...s.options].map(o => o.text)") == list(COLORS)
    speed = demo.page.locator("[data-command=set_speed] [data-param=speed]")
    assert speed.locator("input[type=range]").get_attribute("max") == "5"
    assert speed.locator("input[type=number]").input_value() == "1"
    mute = demo.page.get_by_role("switch", name="mute")
    assert not mute.is_checked()

    select_color(demo, "orange")
    demo.wait_frame(lambda p: matching(p, ORANGE, 35) > DISC_PIXELS, what="with the orange disc")
    select_color(demo, "blue")
    demo.wait_frame(
        lambda p: matching(p, BLUE, 35) > DISC_PIXELS and matching(p, ORANGE, 35) < 20,
        what="with a blue disc and no orange one",
    )
    select_color(demo, "orange")


def test_an_out_of_range_value_shows_the_runtimes_error_next_to_the_form(demo):
    demo.open()
    form = demo.page.locator("form[data-command=set_speed]")
    form.get_by_role("spinbutton", name="speed").fill("9")
    form.get_by_role("button", name="Send").click()
    reply = form.locator(".reply.error")
    reply.wait_for(timeout=5000)
    assert "invalid_command" in reply.inner_text()
    assert "speed" in reply.inner_text()


def test_the_message_log_shows_model_messages_newest_first_and_stays_bounded(demo):
    demo.open()
    form = demo.page.locator("form[data-command=set_speed]")
    for speed in ("2", "1"):
        form.get_by_role("spinbutton", name="speed").fill(speed)
        form.get_by_role("button", name="Send").click()
        form.locator(".reply.ok").wait_for(timeout=5000)
    demo.wait_js("document.querySelectorAll('#log li[data-type=demo_status]').length >= 2")
    newest = demo.page.locator("#log li").first
    assert json.loads(newest.locator("code").inner_text())["speed"] == 1

    # Feed the page 250 more frames as if they came from the runtime.
    demo.page.evaluate(
        """() => { for (let i = 0; i < 250; i++) window.reactorPage.connection.onFrame(
             JSON.stringify({scope: "application", data: {type: "tick", data: {i}}})); }"""
    )
    assert demo.page.locator("#log li").count() == 200
    assert json.loads(demo.page.locator("#log li code").first.inner_text()) == {"i": 249}


def test_closing_the_tab_runs_the_models_disconnect_within_5_seconds(demo, demo_stage):
    demo.open()
    server = demo_stage.server
    wait_until(lambda: server.health()["viewers"] == 1, 5, "the viewer is connected")
    demo.page.close()
    took = wait_until(lambda: server.health()["viewers"] == 0, 5, "the viewer left")
    assert took < 5


@pytest.mark.parametrize("status", [503, 409])
def test_a_busy_session_shows_a_message_and_reconnect_recovers(demo, status):
    busy = {"n": 0}

    def refuse_once(route):
        if busy["n"]:
            route.continue_()
            return
        busy["n"] += 1
        body = json.dumps({"detail": "another viewer holds the session"})
        route.fulfill(status=status, body=body, content_type="application/json")

    demo.page.route("**/start_session", refuse_once)
    demo.open(connected=False)
    demo.wait_state("busy")
    banner = demo.page.get_by_role("alert")
    assert (
        "busy" in banner.inner_text() and "another viewer holds the session" in banner.inner_text()
    )
    demo.page.get_by_role("button", name="Reconnect").click()
    demo.wait_state("connected")
    assert banner.is_hidden()


def test_a_loading_model_is_waited_for(demo):
    calls = {"n": 0}

    def loading_once(route):
        calls["n"] += 1
        if calls["n"] > 1:
            route.continue_()
            return
        body = json.dumps({"detail": "the model is still loading; retry shortly"})
        route.fulfill(status=503, body=body, headers={"Retry-After": "1"})

    demo.page.route("**/start_session", loading_once)
    demo.open()
    assert calls["n"] == 2


def test_a_stopped_server_shows_why_and_reconnect_says_it_is_gone(demo, demo_stage):
    spare = serve(demo_stage.net, None, port=SPARE_PORT)
    viewer = demo_stage.viewer(spare)
    try:
        viewer.open()
        spare.stop()
        viewer.wait_state("ended")
        banner = viewer.page.get_by_role("alert")
        assert "shutting down" in banner.inner_text()
        viewer.page.get_by_role("button", name="Reconnect").click()
        viewer.wait_state("failed")
        assert "gone" in banner.inner_text()
    finally:
        viewer.close()


def test_a_second_tab_takes_the_session_over_and_reconnect_takes_it_back(demo, demo_stage):
    demo.open()
    other = demo_stage.viewer()
    try:
        other.open()
        demo.wait_state("ended")
        assert "ended this connection" in demo.page.get_by_role("alert").inner_text()
        demo.page.get_by_role("button", name="Reconnect").click()
        demo.wait_state("connected")
        other.wait_state("ended")
        first = demo.wait_js("window.reactorPage.stats?.framesDecoded")
        demo.wait_js(f"window.reactorPage.stats?.framesDecoded > {first + 10}")
    finally:
        other.close()
