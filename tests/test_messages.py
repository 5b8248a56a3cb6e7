from dataclasses import dataclass, fields

import numpy as np
import pytest

from reactor_runtime import MessageField, ModelMessage
from reactor_runtime.messages import snake_case


@dataclass
class PlaybackStarted(ModelMessage):
    pass


class Progress(ModelMessage):
    step: int
    label: str = ""


def test_wire_name_is_snake_case_of_the_class():
    assert PlaybackStarted.wire_type() == "playback_started"
    assert snake_case("HTTPError") == "http_error"


def test_fields_are_the_message_data():
    assert Progress(step=3, label="x").to_data() == {"step": 3, "label": "x"}


def test_a_field_that_is_not_json_names_the_field_and_type():
    with pytest.raises(TypeError, match=r"Progress\.step.*ndarray"):
        Progress(step=np.zeros(2)).to_data()


class Level(ModelMessage):
    """The input level, once a second."""

    unit: str = MessageField("dB", description="always dB")
    value: float = MessageField(description="the level")


class Renamed(ModelMessage):
    name = "level_v2"
    value: float


class Greeting(ModelMessage):
    name: str


def test_message_field_gives_defaults_and_descriptions_and_required_fields_come_first():
    level = Level(-6.0)

    assert level.to_data() == {"value": -6.0, "unit": "dB"}
    described = {f.name: f.metadata.get("description") for f in fields(Level)}
    assert described == {"value": "the level", "unit": "always dB"}


def test_the_wire_name_is_readable_as_name_and_settable_by_the_3x_name_attribute():
    assert (Level.name, Level.wire_type()) == ("level", "level")
    assert (Renamed.name, Renamed.wire_type()) == ("level_v2", "level_v2")
    assert Renamed(1.5).to_wire_format() == {"type": "level_v2", "data": {"value": 1.5}}


def test_a_field_called_name_stays_a_field():
    assert Greeting("ada").to_wire_format() == {"type": "greeting", "data": {"name": "ada"}}


def test_user_doc_is_the_class_own_docstring_or_none():
    assert Level.user_doc == "The input level, once a second."
    assert Renamed.user_doc is None


def test_message_field_takes_a_default_factory_as_in_3x():
    class Batch(ModelMessage):
        items: list = MessageField(default_factory=list, description="the items")

    first, second = Batch(), Batch()
    first.items.append(1)
    assert second.items == [] and fields(Batch)[0].metadata["description"] == "the items"
    with pytest.raises(TypeError, match="give default"):
        MessageField(0, default_factory=int)
