"""The resolution ladder: its decisions on a clock the test moves, and a real step."""

from __future__ import annotations

from transport.fake_clock import Clock

from reactor_runtime.transport import ViewerPeer
from reactor_runtime.transport.ladder import (
    DOWN_HOLD,
    STEP_INTERVAL,
    UP_HOLD,
    Ladder,
    scaled_size,
)


def test_the_ladder_steps_down_after_a_hold_and_up_slowly_with_hysteresis():
    clock = Clock(50.0)
    ladder = Ladder(clock)
    assert ladder.update(2_500_000, 1280, 720) == 1.0
    assert ladder.update(1_000_000, 1280, 720) == 1.0, "a dip: no keyframe for it yet"
    clock.now += DOWN_HOLD / 2
    assert ladder.update(1_500_000, 1280, 720) == 1.0, "back above: the hold restarts"
    assert ladder.update(1_000_000, 1280, 720) == 1.0
    clock.now += DOWN_HOLD
    assert ladder.update(1_000_000, 1280, 720) == 0.75, "below 1.2 Mbit/s for a second: 540p"
    assert ladder.update(250_000, 1280, 720) == 0.75, "no second step within the interval"
    clock.now += STEP_INTERVAL
    assert ladder.update(250_000, 1280, 720) == 0.5, "below 0.6 Mbit/s: 360p"
    assert ladder.update(700_000, 1280, 720) == 0.5, "under 1.3 x 540p's need: stays"
    assert ladder.update(800_000, 1280, 720) == 0.5, "above it, but not for long yet"
    clock.now += UP_HOLD
    assert ladder.update(800_000, 1280, 720) == 0.75
    clock.now += UP_HOLD + STEP_INTERVAL
    assert ladder.update(1_500_000, 1280, 720) == 0.75, "under 1.3 x 720p's need: stays"
    assert ladder.steps == 3
    fresh = Ladder(clock)
    assert fresh.update(100_000, 1280, 720) == 0.5, "starts below: straight to its step"
    assert fresh.steps == 1
    keyed = Ladder(clock)
    assert keyed.update(2_500_000, 1280, 720) == 1.0
    assert keyed.update(1_000_000, 1280, 720, keyframe=True) == 0.75, "a keyframe anyway"
    assert Ladder(clock).update(400_000, 640, 360) == 1.0, "needs scale with the model's size"
    assert scaled_size(1280, 720, 0.75) == (960, 540)
    assert scaled_size(854, 480, 0.75) == (640, 360)


async def test_a_stream_too_slow_for_720p_is_sent_at_360p_for_one_keyframe(
    make_textured_hub, make_client
):
    hub = await make_textured_hub(max_bitrate=500_000)
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = ViewerPeer(hub.session, hub, viewer_id="viewer-1", family="v0")
    try:
        await client.connect(peer)
        frames = await client.wait_frames("main_video", 20)
        assert (frames[-1].width, frames[-1].height) == (640, 360), "the model sends 720p"
        stats = hub.stats()["video"]["main_video"]
        assert stats["ladder_steps"] == {"vp8": 1} and stats["scale"] == {"vp8": 0.5}
        # The first keyframe (asked for by the viewer joining) and one for the step.
        assert stats["keyframes"]["vp8"] == stats["keyframes_forced"]["vp8"] + 1
    finally:
        await peer.close("test over")
