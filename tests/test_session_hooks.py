"""Session hooks (`@session_started`, `@session_ended`) and the reserved `client` parameter."""

import pytest
from sessions import running

from reactor_runtime import (
    ClientInfo,
    CommandError,
    InputState,
    ModelMessage,
    Output,
    ReactorPipeline,
    Video,
    connected,
    disconnected,
    event,
    session_ended,
    session_started,
)


class Frames(Output):
    main_video: Video


class Notes(InputState):
    greeting: str = "hello"


class Private(ModelMessage):
    text: str


class Public(ModelMessage):
    text: str


class Host(ReactorPipeline):
    """Records its hooks; replies to one viewer, or to everyone."""

    output_type = Frames
    state: Notes
    log: list = []  # reset by load: one list per session

    def load(self, config):
        type(self).log = []

    def inference(self):
        while True:
            yield None

    @session_started
    def begin(self):
        self.log.append(("session_started", self.state.greeting))

    @session_ended
    def end(self):
        self.log.append(("session_ended", self.state is not None))

    @connected
    def hello(self, client: ClientInfo):
        self.log.append(("connected", client.id))

    @disconnected
    def bye(self, client):
        self.log.append(("disconnected", client.id))

    @event(description="Whisper to the caller")
    async def whisper(self, text: str, client: ClientInfo) -> None:
        self.log.append(("whisper", None if client is None else client.id))
        if client is not None:
            await client.send(Private(text))

    @event(description="Say to everyone")
    async def say(self, text: str) -> None:
        await self.send(Public(text))


def listen(session, viewer=None):
    got = []
    session.on_message(lambda kind, data: got.append((kind, data["text"])), viewer)
    return got


async def test_session_hooks_run_once_and_a_session_end_fires_no_disconnected():
    async with running(Host, viewer=False) as (session, _):
        await session.viewer_joined("a")
        await session.viewer_joined("b")
        await session.viewer_left("a")
    assert Host.log == [
        ("session_started", "hello"),
        ("connected", "a"),
        ("connected", "b"),
        ("disconnected", "a"),
        ("session_ended", True),
    ]
    assert session.model.state is None


async def test_client_is_the_caller_and_its_send_reaches_that_viewer_alone():
    async with running(Host, viewer=False) as (session, _):
        everyone, to_a, to_b = listen(session), listen(session, "a"), listen(session, "b")
        await session.viewer_joined("a")
        await session.viewer_joined("b")

        await session.dispatch("whisper", {"text": "psst"}, viewer="a")
        await session.dispatch("say", {"text": "all"}, viewer="b")
        await session.dispatch("whisper", {"text": "lost"})
        stats = session.stats()

    assert ("whisper", "a") in Host.log and ("whisper", None) in Host.log
    assert to_a == [("private", "psst"), ("public", "all")]
    assert to_b == [("public", "all")] and everyone == [("public", "all")]
    assert stats["messages_to_one_viewer"] == 1 and stats["messages_sent"] == 1


async def test_client_is_not_a_command_argument():
    async with running(Host, viewer=False) as (session, _):
        schema = session.commands.get("whisper").capability()["schema"]
        with pytest.raises(CommandError, match="'client' is not a parameter"):
            await session.dispatch("whisper", {"text": "x", "client": "forged"}, viewer="a")

    assert list(schema) == ["text"]


async def test_a_message_for_a_viewer_nobody_listens_for_is_counted_undelivered():
    async with running(Host, viewer=False) as (session, _):
        await session.viewer_joined("a")
        await session.dispatch("whisper", {"text": "psst"}, viewer="a")

        assert session.stats()["messages_undelivered"] == 1
