"""The published contract: the OpenAPI 3.1 document in the 3.x layout, and `reactor schema`."""

import json
import textwrap

import pytest

from reactor_runtime.cli import main as reactor
from reactor_runtime.config import load_project
from reactor_runtime.schema import build_schema, release_tag

MODEL = '''
import enum

from reactor_runtime import (
    Audio, Input, InputField, InputState, MessageField, ModelMessage, Output,
    ReactorPipeline, UploadedFile, Video, event,
)

print("loading weights banner")  # the document must still be alone on stdout


class Style(enum.Enum):
    CALM = "calm"
    WILD = "wild"


class Camera(Input):
    webcam: Video


class Picture(Output):
    main_video: Video
    main_audio: Audio


class Echoed(ModelMessage):
    """What the model heard."""

    text: str
    level: float = MessageField(0.0, description="loudness in dB")


class Tick(ModelMessage):
    name = "clock_tick"
    count: int


class Look(InputState):
    brightness: int = InputField(100, ge=0, le=255, description="Gray level")
    _turns: int = 0


class Studio(ReactorPipeline):
    """A model with every kind of declaration."""

    state: Look

    @event(description="Say something back")
    def echo(self, text: str = InputField(max_length=40, moderate=True)) -> Echoed:
        return Echoed(text)

    @event(description="Seed from a picture")
    def seed(self, image: UploadedFile, extra: UploadedFile | None = None) -> None:
        pass

    @event(description="Change the mood")
    def mood(self, style: Style = Style.CALM, tint: str = InputField("red", choices=["red", "blue"])):
        pass

    def inference(self):
        yield None
'''


@pytest.fixture
def studio(tmp_path):
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "reactor.yaml").write_text(
        "runtime:\n  import: model:Studio\nmodel:\n  name: studio\n"
    )
    return tmp_path


@pytest.fixture
def doc(studio, capsys):
    project = load_project(studio)
    capsys.readouterr()
    return build_schema(project.model_class, name=project.name)


def resolve(doc, ref):
    assert ref.startswith("#/components/schemas/"), ref
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def body(doc, command):
    content = doc["paths"][f"/events/{command}"]["post"]["requestBody"]["content"]
    return content["application/json"]["schema"]


def test_the_document_is_titled_versioned_and_described_like_the_3x_one(doc):
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {
        "title": "studio",
        "version": "v0.0.0",
        "description": "A model with every kind of declaration.",
    }


def test_commands_are_posts_to_events_with_a_reply_ref_or_a_bodyless_202(doc):
    assert set(doc["paths"]) == {
        "/events/echo",
        "/events/seed",
        "/events/mood",
        "/events/set_brightness",
    }
    echo = doc["paths"]["/events/echo"]["post"]
    assert echo["operationId"] == "echo" and echo["summary"] == "Say something back"
    reply = echo["responses"]["200"]["content"]["application/json"]["schema"]
    assert reply == {"$ref": "#/components/schemas/Echoed"}
    assert doc["paths"]["/events/seed"]["post"]["responses"] == {
        "202": {"description": "Command accepted"}
    }


def test_messages_are_webhooks_named_by_wire_name_sharing_one_component_per_class(doc):
    assert set(doc["webhooks"]) == {"echoed", "clock_tick"}
    hook = doc["webhooks"]["echoed"]["post"]
    assert hook["summary"] == "What the model heard."
    schema = hook["requestBody"]["content"]["application/json"]["schema"]
    assert resolve(doc, schema["$ref"]) == {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "level": {"type": "number", "default": 0.0, "description": "loudness in dB"},
        },
        "required": ["text"],
    }
    tick = doc["webhooks"]["clock_tick"]["post"]["requestBody"]["content"]["application/json"]
    assert tick["schema"] == {"$ref": "#/components/schemas/Tick"}


def test_tracks_are_listed_inputs_first_with_the_models_direction(doc):
    assert doc["x-reactor"]["tracks"] == [
        {"name": "webcam", "kind": "video", "direction": "in"},
        {"name": "main_video", "kind": "video", "direction": "out"},
        {"name": "main_audio", "kind": "audio", "direction": "out"},
    ]


def test_upload_parameters_refer_to_the_shared_upload_reference(doc):
    seed = body(doc, "seed")
    assert seed["properties"]["image"] == {
        "$ref": "#/components/schemas/ReactorUploadReference",
        "x-reactor-moderate": False,
    }
    assert seed["properties"]["extra"]["anyOf"][0]["$ref"].endswith("/ReactorUploadReference")
    assert seed["required"] == ["image"]
    reference = doc["components"]["schemas"]["ReactorUploadReference"]
    assert reference["format"] == "reactor-upload-reference"
    assert reference["required"] == ["upload_id", "name", "mime_type", "size"]


def test_constraints_moderation_choices_and_state_setters_read_as_json_schema(doc):
    text = body(doc, "echo")["properties"]["text"]
    assert text == {"type": "string", "maxLength": 40, "x-reactor-moderate": True}
    assert body(doc, "echo")["required"] == ["text"]
    mood = body(doc, "mood")["properties"]
    assert mood["style"]["enum"] == ["calm", "wild"] and mood["style"]["default"] == "calm"
    assert mood["tint"]["enum"] == ["red", "blue"] and mood["tint"]["x-reactor-moderate"] is False
    brightness = body(doc, "set_brightness")["properties"]["brightness"]
    assert (brightness["minimum"], brightness["maximum"], brightness["default"]) == (0, 255, 100)
    assert "set__turns" not in json.dumps(doc)


def test_every_reference_resolves_inside_the_document(doc):
    text = json.dumps(doc)
    assert "$defs" not in text and '"title": "Text"' not in text
    refs = []

    def walk(node):
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        resolve(doc, ref)


def test_reactor_schema_prints_the_document_alone_on_stdout(studio, capsys):
    assert reactor(["schema", str(studio), "--version", "1.4.0"]) == 0
    out = capsys.readouterr()
    printed = json.loads(out.out)
    assert printed["info"]["version"] == "v1.4.0"
    assert set(printed["webhooks"]) == {"echoed", "clock_tick"}
    assert "loading weights banner" in out.err


def test_reactor_schema_refuses_a_bad_tag_or_directory_naming_it(studio, tmp_path, capsys):
    assert reactor(["schema", str(studio), "--version", "latest"]) == 2
    assert "version: expected a release tag" in capsys.readouterr().err
    assert reactor(["schema", str(tmp_path / "nowhere")]) == 2
    assert "reactor.yaml" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"'1\.4'"):
        release_tag("1.4")
