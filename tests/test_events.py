import pytest

from reactor_runtime import CommandError, InputField, ModelMessage, ReactorModel, connected, event
from reactor_runtime.events import CommandSet


class Reply(ModelMessage):
    value: float


class Model(ReactorModel):
    @event(name="set_speed", description="How fast")
    async def set_speed(self, speed: float = InputField(1.0, ge=0, le=4, description="x")):
        return Reply(speed)

    @event(description="Pick a style")
    def style(self, name: str = InputField(choices=["a", "b"]), bold: bool = False):
        pass

    @event(name="say", description="Say")
    async def say(self, text: str = InputField(min_length=1, max_length=5), times: int = 1):
        pass

    @connected
    async def hello(self):
        pass


COMMANDS = CommandSet.of(Model)


def test_commands_and_hooks_are_collected_by_their_wire_names():
    assert sorted(COMMANDS.commands) == ["say", "set_speed", "style"]
    assert COMMANDS.on_connected == ["hello"]


def test_valid_arguments_fill_defaults():
    assert COMMANDS.get("set_speed").validate({}) == {"speed": 1.0}
    assert COMMANDS.get("style").validate({"name": "b"}) == {"name": "b", "bold": False}


def test_integral_doubles_are_accepted_for_integer_parameters():
    assert COMMANDS.get("say").validate({"text": "hi", "times": 3.0}) == {"text": "hi", "times": 3}


@pytest.mark.parametrize(
    ("name", "args", "pattern"),
    [
        ("set_speed", {"speed": 5}, r"'speed'.*less than or equal to 4.*got 5"),
        ("set_speed", {"speed": "fast"}, r"'speed'.*number.*got 'fast'"),
        ("style", {}, r"argument 'name' is required"),
        ("style", {"name": "c"}, r"'name'.*'a' or 'b'.*got 'c'"),
        ("say", {"text": ""}, r"'text'.*at least 1"),
        ("say", {"text": "toolong"}, r"'text'.*at most 5"),
        ("say", {"text": "ok", "loud": True}, r"'loud' is not a parameter"),
        ("say", [1, 2], r"expected an object of arguments, got list"),
    ],
)
def test_invalid_arguments_raise_invalid_command_naming_the_field(name, args, pattern):
    with pytest.raises(CommandError, match=pattern) as info:
        COMMANDS.get(name).validate(args)
    assert info.value.code == "invalid_command"


def test_unknown_command_lists_the_known_ones():
    with pytest.raises(CommandError, match=r"unknown command 'fly'.*say, set_speed, style"):
        COMMANDS.get("fly")


def test_capabilities_render_each_parameter_for_the_wire():
    caps = {c["name"]: c for c in COMMANDS.capabilities()}
    speed = caps["set_speed"]["schema"]["speed"]
    assert caps["set_speed"]["description"] == "How fast"
    assert speed["type"] == "number" and speed["minimum"] == 0 and speed["maximum"] == 4
    assert speed["required"] is False and speed["description"] == "x"
    assert caps["style"]["schema"]["name"] == {
        "type": "string",
        "required": True,
        "enum": ["a", "b"],
    }
    assert caps["style"]["schema"]["bold"]["type"] == "boolean"
    assert caps["say"]["schema"]["times"]["type"] == "integer"


def test_two_handlers_for_one_name_are_refused():
    class Twice(ReactorModel):
        @event(name="x")
        def a(self):
            pass

        @event(name="x")
        def b(self):
            pass

    with pytest.raises(TypeError, match="two handlers for command 'x'"):
        CommandSet.of(Twice)


class Moderated(ReactorModel):
    @event(description="Set the prompt")
    def prompt(self, text: str = InputField("a cat", moderate=True), seed: int = 0) -> Reply:
        return Reply(1.0)


def test_a_moderated_field_is_marked_in_the_schema_and_the_reply_type_is_recorded():
    command = CommandSet.of(Moderated).get("prompt")
    schema = command.arguments.model_json_schema()["properties"]

    assert schema["text"]["x-reactor-moderate"] is True
    assert "x-reactor-moderate" not in schema["seed"]
    assert command.response is Reply


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        (InputField(5.0, le=4), r"5.0 > le=4"),
        (InputField("", min_length=1), r"length 0 < min_length=1"),
        (InputField("c", choices=["a", "b"]), r"'c' is not one of choices"),
    ],
)
def test_a_default_that_breaks_its_own_constraints_fails_when_the_class_is_defined(field, problem):
    with pytest.raises(TypeError, match=rf"command 'tune': parameter 'value': .*{problem}"):

        class Broken(ReactorModel):
            @event(description="Tune")
            def tune(self, value=field):
                pass


@pytest.mark.parametrize("annotation", ["Reply | None", "int", "dict"])
def test_a_reply_annotation_other_than_one_message_or_none_fails_at_import(annotation):
    namespace = {"Reply": Reply}
    exec(f"def tune(self) -> {annotation}: pass", namespace)
    with pytest.raises(TypeError, match=r"command 'tune': returns .*annotate one ModelMessage"):
        event(description="Tune")(namespace["tune"])


def test_a_reply_type_defined_after_the_model_is_checked_when_commands_are_collected():
    namespace = {}
    exec("def later(self) -> 'Later': pass", namespace)
    handler = event(description="Later")(namespace["later"])
    model = type("Early", (ReactorModel,), {"later": handler})
    namespace["Later"] = type("Later", (ModelMessage,), {"__annotations__": {"x": int}})

    assert CommandSet.of(model).get("later").response is namespace["Later"]
    namespace["Later"] = int
    with pytest.raises(TypeError, match="returns int"):
        CommandSet.of(model)


def fresh_tags() -> list:
    return ["a"]


def test_a_default_factory_fills_an_omitted_argument_afresh_each_call():
    class Lists(ReactorModel):
        @event(description="Tag")
        def tag(self, tags: list = InputField(default_factory=fresh_tags, max_length=2)):  # noqa: B008
            pass

    command = CommandSet.of(Lists).get("tag")
    first, second = command.validate({}), command.validate({})
    assert first == {"tags": ["a"]} and first["tags"] is not second["tags"]
    assert command.capability()["schema"]["tags"]["required"] is False
