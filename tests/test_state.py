"""`InputState`: typed per-session state, checked when its class is defined."""

import pytest

from reactor_runtime import InputField, InputState


class Look(InputState):
    brightness: int = InputField(100, ge=0, le=255)
    prompt: str
    tags: list = ["a"]  # copied for each instance


def test_state_declarations_that_cannot_work_fail_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"Broken._cache: a private field needs a default"):

        class Broken(InputState):
            _cache: dict

    with pytest.raises(TypeError, match=r"Loud.volume: the default breaks .*11 > le=10"):

        class Loud(InputState):
            volume: int = InputField(11, le=10)


def test_a_required_field_read_before_it_is_set_says_which_command_sets_it():
    with pytest.raises(AttributeError, match=r"Look\.prompt is required .* set_prompt first"):
        _ = Look().prompt
    assert Look(prompt="x").prompt == "x" and Look().brightness == 100


def test_mutable_defaults_are_copied_so_sessions_never_share_them():
    first, second = Look(), Look()
    first.tags.append("b")

    assert second.tags == ["a"]
    with pytest.raises(TypeError, match=r"Look: 'volume' is not a public field"):
        Look(volume=3)


def test_a_default_factory_makes_a_fresh_default_per_state_and_is_not_required():
    class Tagged(InputState):
        tags: list = InputField(default_factory=lambda: ["new"], max_length=3)

    first, second = Tagged(), Tagged()
    first.tags.append("x")
    assert second.tags == ["new"]
    with pytest.raises(TypeError, match=r"give default \(\[\]\) or default_factory, not both"):
        InputField([], default_factory=list)
