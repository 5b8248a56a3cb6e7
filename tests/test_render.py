"""`reactor render`: scripts, config overrides, the MP4 writer, stopping, errors."""

import asyncio
import json
import time
from pathlib import Path

import av
import numpy as np
import pytest

from reactor_runtime import Audio, Output, ReactorModel, Video
from reactor_runtime.cli import build_parser
from reactor_runtime.config import ConfigError, Project
from reactor_runtime.media.frames import PacedFrame
from reactor_runtime.render import (
    Mp4Writer,
    RenderError,
    ScriptedCommand,
    apply_overrides,
    load_script,
    main,
    render,
)

RATE = 48_000


class Tracks(Output):
    main_video: Video
    main_audio: Audio


class Brief(ReactorModel):
    """Emits six frames per connection, then nothing."""

    output_type = Tracks

    async def run(self):
        await self.connected.wait()
        for i in range(6):
            picture = np.full((48, 64, 3), 40 * i, np.uint8)
            await self.emit(Tracks(picture, np.full((1, 1600), 1000, np.int16)))
        await asyncio.Event().wait()


def paced(pts, picture=None, level=0, duration=1600, gap=0, index=0):
    video = {} if picture is None else {"main_video": picture}
    tone = level * np.sin(2 * np.pi * 1000 * (pts + np.arange(duration)) / RATE)
    audio = {"main_audio": tone.astype(np.int16)[np.newaxis]}
    return PacedFrame(index=index, pts=pts, duration=duration, video=video, audio=audio, gap=gap)


async def write(path, frames, end, audio_track="main_audio"):
    writer = Mp4Writer(path, "main_video", audio_track, 1, 30.0, end)
    writer.start()
    for frame in frames:
        writer.submit(frame)
    await writer.close()
    return writer


def decoded(path):
    with av.open(str(path)) as container:
        pictures = [(f.pts, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        samples = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return pictures, np.concatenate(samples) if samples else np.zeros(0)


def test_a_script_is_a_yaml_list_of_timed_commands(tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text("- {at: 2, event: play}\n- {at: 1.5, event: pause, args: {x: 1}}\n")

    assert load_script(script) == [
        ScriptedCommand(2.0, "play", {}),
        ScriptedCommand(1.5, "pause", {"x": 1}),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- {at: 1}\n", "item 0: 'event'"),
        ("- {at: -1, event: pause}\n", "'at' must be media seconds"),
        ("- {at: 1, event: pause, args: [1]}\n", "'args' must be a mapping"),
        ("at: 1\n", "expected a list"),
    ],
)
def test_a_malformed_script_is_a_config_error_that_names_the_problem(tmp_path, text, problem):
    script = tmp_path / "s.yaml"
    script.write_text(text)

    with pytest.raises(ConfigError, match=problem):
        load_script(script)


def test_config_overrides_are_read_as_yaml_and_dotted_keys_nest():
    config = {"fps": 30, "model": {"steps": 8, "seed": 1}}

    apply_overrides(config, ["fps=25", "name=x", "loop=true", "path=a=b", "model.steps=4"])

    assert config == {
        "fps": 25,
        "name": "x",
        "loop": True,
        "path": "a=b",
        "model": {"steps": 4, "seed": 1},
    }
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["frames_per_block"])


async def test_writer_keeps_video_pts_and_fills_audio_gaps_with_silence(tmp_path):
    out = tmp_path / "gap.mp4"
    picture = np.full((64, 64, 3), 200, np.uint8)
    frames = [
        paced(0, picture, level=8000),
        paced(1600, picture, level=8000, index=1),
        # 0.2 s of underrun before this frame: silence, then the frame at its own time.
        paced(3200 + 9600, picture, level=8000, gap=9600, index=2),
    ]

    writer = await write(out, frames, end=RATE // 2)

    pictures, audio = decoded(out)
    assert [pts for pts, _ in pictures] == [0, 1600, 12800]
    assert writer.audio_samples == RATE // 2
    assert audio.size >= RATE // 2
    rms = (8000 / 32768) / np.sqrt(2)
    assert np.sqrt(np.mean(audio[100:3000] ** 2)) == pytest.approx(rms, rel=0.1)
    assert np.abs(audio[4000:12000]).max() < 0.01
    assert np.sqrt(np.mean(audio[13000:14200] ** 2)) == pytest.approx(rms, rel=0.1)
    assert np.abs(audio[16000:24000]).max() < 0.01


async def test_writer_scales_pictures_that_change_size_to_the_first_size(tmp_path):
    out = tmp_path / "sizes.mp4"
    frames = [
        paced(0, np.full((120, 160, 3), 50, np.uint8)),
        paced(1600, np.full((240, 320, 3), 200, np.uint8), index=1),
    ]

    await write(out, frames, end=3200)

    pictures, _ = decoded(out)
    assert [p.shape for _, p in pictures] == [(120, 160, 3), (120, 160, 3)]
    assert pictures[1][1].mean() == pytest.approx(200, abs=3)


async def test_writer_cuts_everything_after_the_end(tmp_path):
    out = tmp_path / "end.mp4"
    picture = np.zeros((32, 32, 3), np.uint8)
    frames = [paced(i * 1600, picture, level=1000, index=i) for i in range(10)]

    writer = await write(out, frames, end=4000)

    assert writer.video_frames == 3 and writer.audio_samples == 4000


async def test_render_ends_on_media_time_even_when_the_model_stops_emitting(tmp_path):
    out = tmp_path / "brief.mp4"

    result = await render(Project(Brief, "brief"), 0.5, output_path=out)

    assert result.video_frames == 6
    assert result.audio_samples == RATE // 2
    pictures, audio = decoded(out)
    assert len(pictures) == 6 and audio.size >= RATE // 2
    assert np.abs(audio[9600 + 1024 : RATE // 2]).max() < 0.01


async def test_render_leaves_the_event_loop_free_while_it_encodes(tmp_path):
    lags = []

    async def watch():
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            lags.append(time.monotonic() - before - 0.005)

    watcher = asyncio.create_task(watch())
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo"
    result = await render(demo, 1.0, output_path=tmp_path / "demo.mp4")
    watcher.cancel()

    assert result.video_frames == 30
    assert result.stats["underruns"] == 0
    assert np.percentile(lags, 95) < 0.02, f"p95 loop lag {np.percentile(lags, 95) * 1000:.1f} ms"


def run_cli(*argv):
    args = build_parser().parse_args(["render", *argv])
    return main(args)


def test_a_directory_without_reactor_yaml_exits_2_with_one_line(tmp_path, capsys):
    code = run_cli(str(tmp_path), "-o", str(tmp_path / "x.mp4"), "-q")

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "reactor.yaml" in err and "not found" in err


def test_a_load_that_raises_exits_1_with_one_line(tmp_path, capsys):
    (tmp_path / "reactor.yaml").write_text("model: model:Broken\n")
    (tmp_path / "model.py").write_text(
        "from reactor_runtime import Audio, Output, ReactorModel, Video\n"
        "class Tracks(Output):\n    main_video: Video\n    main_audio: Audio\n"
        "class Broken(ReactorModel):\n    def load(self, config):\n"
        "        raise KeyError('video_path')\n"
    )

    code = run_cli(str(tmp_path), "-o", str(tmp_path / "x.mp4"), "-q")

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Broken.load() failed" in err and "video_path" in err


class Silent(ReactorModel):
    output_type = Tracks

    async def run(self):
        await asyncio.Event().wait()


async def test_a_model_that_never_emits_is_a_render_error_not_a_hang(tmp_path):
    with pytest.raises(RenderError, match=r"Silent emitted no frame in 0\.3 s"):
        await render(
            Project(Silent, "silent"), 5.0, output_path=tmp_path / "x.mp4", first_frame_timeout=0.3
        )


async def test_an_output_in_a_missing_directory_is_refused_before_the_model_starts(tmp_path):
    with pytest.raises(ConfigError, match="directory does not exist"):
        await render(Project(Silent, "silent"), 1.0, output_path=tmp_path / "no" / "x.mp4")


class Crashing(ReactorModel):
    output_type = Tracks

    async def run(self):
        raise FileNotFoundError("clip.mp4")


async def test_a_run_that_fails_before_its_first_frame_ends_the_render_with_its_error(tmp_path):
    seen = []

    with pytest.raises(
        RenderError, match=r"Crashing\.run\(\) raised FileNotFoundError\('clip.mp4'\)"
    ):
        await render(
            Project(Crashing, "c"), 5.0, output_path=tmp_path / "x.mp4", on_message=seen.append
        )

    assert seen[0]["notice"] == "model_error"


MODELS_3X = Path(__file__).resolve().parent / "models_3x"


def test_a_3x_style_model_renders_with_its_commands_and_replies(tmp_path, capsys):
    script = tmp_path / "script.yaml"
    script.write_text("- {at: 0.5, event: set_color, args: {color: blue}}\n")
    out = tmp_path / "tints.mp4"

    code = run_cli(
        str(MODELS_3X / "tints"), "--seconds", "1", "--commands", str(script), "-o", str(out), "-q"
    )

    assert code == 0, capsys.readouterr().err
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["reply"] == {"type": "color_changed", "data": {"color": "blue"}}
    pictures, samples = decoded(out)
    first, last = pictures[0][1][32, 32], pictures[-1][1][32, 32]
    assert first.argmax() == 0 and last.argmax() == 2
    assert np.abs(samples).max() > 0.1  # the beep of the change, decoded as float


def test_a_3x_style_pipeline_renders_and_its_state_commands_take_effect(tmp_path, capsys, caplog):
    script = tmp_path / "script.yaml"
    script.write_text(
        "- {at: 0.4, event: set_level, args: {level: 200}}\n"
        "- {at: 0.6, event: set_level, args: {level: 999}}\n"
    )
    out = tmp_path / "brightness.mp4"

    code = run_cli(
        str(MODELS_3X / "brightness"),
        "--seconds",
        "1",
        "--commands",
        str(script),
        "-o",
        str(out),
        "-q",
    )

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "'recording' is not supported yet" in caplog.text
    outcomes = [json.loads(line) for line in captured.out.splitlines()]
    assert outcomes[0] == {"t": outcomes[0]["t"], "command": "set_level", "reply": None}
    assert outcomes[1]["error"]["code"] == "invalid_command"
    with av.open(str(out)) as container:
        levels = [
            int(f.to_ndarray(format="rgb24")[24, 24].mean()) for f in container.decode(video=0)
        ]
    assert abs(levels[0] - 40) <= 4 and abs(levels[-1] - 200) <= 4
    assert len(levels) == 30
