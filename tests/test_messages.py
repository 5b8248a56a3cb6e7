from dataclasses import dataclass

import numpy as np
import pytest

from reactor_runtime import ModelMessage
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
