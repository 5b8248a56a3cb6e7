"""`reactor render` scripts with uploads: a file handed to the model as a viewer uploads it."""

import json
from pathlib import Path

import av
import numpy as np
import pytest

from reactor_runtime.cli import build_parser
from reactor_runtime.config import ConfigError
from reactor_runtime.render import ScriptedCommand, load_script, main
from reactor_runtime.render_uploads import ScriptedUpload

ECHO_3X = Path(__file__).resolve().parents[1] / "examples" / "echo_3x"


def half_white_png(path: Path) -> None:
    picture = np.zeros((30, 40, 3), np.uint8)
    picture[:, 20:] = 255
    codec = av.CodecContext.create("png", "w")
    codec.height, codec.width, codec.pix_fmt = 30, 40, "rgb24"
    path.write_bytes(b"".join(bytes(p) for p in codec.encode(av.VideoFrame.from_ndarray(picture))))


def test_a_script_holds_uploads_read_from_its_own_folder(tmp_path):
    (tmp_path / "a.png").write_bytes(b"png")
    script = tmp_path / "s.yaml"
    script.write_text(
        "- {at: 0.5, upload: a.png, mime_type: image/png}\n"
        "- {at: 1, event: show, args: {image: {upload: a.png}}}\n"
    )

    upload, command = load_script(script)

    assert upload == ScriptedUpload(0.5, "a.png", tmp_path, None, "image/png")
    assert upload.file == tmp_path / "a.png"
    assert command == ScriptedCommand(1.0, "show", {"image": {"upload": "a.png"}})
    assert command.base == tmp_path


def test_a_scripted_upload_of_a_missing_file_is_refused_naming_it(tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text("- {at: 0.5, upload: nowhere.png}\n")
    with pytest.raises(ConfigError, match=r"item 0: 'upload': no file at .*nowhere\.png"):
        load_script(script)


def test_the_3x_echo_renders_an_uploaded_picture_laid_over_it(tmp_path, capsys):
    half_white_png(tmp_path / "half.png")
    script = tmp_path / "script.yaml"
    script.write_text(
        "- {at: 0.2, upload: half.png}\n"
        "- {at: 0.4, event: set_overlay, args: {image: {upload: half.png}, opacity: 1.0}}\n"
    )
    out = tmp_path / "echo.mp4"
    args = build_parser().parse_args(
        ["render", str(ECHO_3X), "--seconds", "1", "--commands", str(script), "-o", str(out), "-q"]
    )

    assert main(args) == 0, capsys.readouterr().err
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [uploaded] = [line for line in lines if "upload" in line]
    assert (uploaded["upload"], uploaded["size"]) == (
        "half.png",
        (tmp_path / "half.png").stat().st_size,
    )
    [reply] = [line["reply"] for line in lines if line.get("command") == "set_overlay"]
    assert reply == {"type": "overlay_set", "data": {"width": 40, "height": 30}}
    with av.open(str(out)) as container:
        last = list(container.decode(video=0))[-1].to_ndarray(format="gray")
    width = last.shape[1]
    assert last[:, : width // 2 - 4].mean() < 30 and last[:, width // 2 + 4 :].mean() > 220
