"""Session hooks follow the runtime's session epochs (`/start_session` ... `/stop_session`)."""

from __future__ import annotations

import numpy as np
from server_harness import (
    SAMPLE_MAPPING,
    FakePeer,
    ServedRuntime,
    T,
    offer_body,
    sample_runtime,
    wait_for,
)

from reactor_runtime import (
    ClientInfo,
    Output,
    ReactorModel,
    Video,
    connected,
    disconnected,
    event,
    session_ended,
    session_started,
)


class HookOutput(Output):
    main_video: Video


class HookModel(ReactorModel):
    """Records every hook call, in order, with the viewer it concerned."""

    fps = 10

    def load(self, config: dict) -> None:
        self.calls: list[str] = []

    @session_started
    def began(self) -> None:
        self.calls.append("session_started")

    @session_ended
    def ended(self) -> None:
        self.calls.append("session_ended")

    @connected
    def joined(self, client: ClientInfo) -> None:
        self.calls.append(f"connected {client.id}")

    @disconnected
    def left(self, client: ClientInfo) -> None:
        self.calls.append(f"disconnected {client.id}")

    @event(description="Say who called")
    async def whoami(self, client: ClientInfo) -> None:
        self.calls.append(f"whoami {client.id if client else None}")

    async def run(self) -> None:
        frame = np.zeros((16, 16, 3), np.uint8)
        while True:
            await self.connected.wait()
            await self.emit(HookOutput(main_video=frame))


def _start(http) -> None:
    assert http.post("/start_session", json={}).status_code == 200
    body = {**offer_body(), "track_mapping": SAMPLE_MAPPING[:1]}
    assert http.post(T + "/sdp_params", json=body).status_code == 202
    wait_for(lambda: http.get("/session").json()["state"] == "STREAMING")


def test_each_session_epoch_fires_its_hooks_once_and_no_disconnected_at_its_end() -> None:
    FakePeer.created = []
    served = ServedRuntime(sample_runtime(model_class=HookModel)).start()
    try:
        with served.client() as http:
            model = served.runtime.session.model
            _start(http)
            viewer = FakePeer.created[0].viewer_id
            assert http.post("/stop_session", json={}).status_code == 200
            wait_for(lambda: "session_ended" in model.calls)
            _start(http)
            second = FakePeer.created[1].viewer_id
            wait_for(lambda: model.calls.count("session_started") == 2)
            served.call(FakePeer.created[1].drop())
            wait_for(lambda: f"disconnected {second}" in model.calls)
        # The first session began with the model; the second with its /start_session.
        assert model.calls == [
            "session_started",
            f"connected {viewer}",
            "session_ended",
            "session_started",
            f"connected {second}",
            f"disconnected {second}",
        ]
    finally:
        served.stop()


CALLER_MODEL = """
import numpy as np
from reactor_runtime import ClientInfo, ModelMessage, Output, ReactorModel, Video, event


class CallerOutput(Output):
    main_video: Video


class Caller(ModelMessage):
    id: str


class Whisper(ModelMessage):
    text: str


class CallerModel(ReactorModel):
    fps = 10

    def load(self, config):
        pass

    @event(description="Say who called, and whisper to that caller alone")
    async def whoami(self, client: ClientInfo) -> Caller:
        await client.send(Whisper(text="only you"))
        return Caller(id=client.id)

    async def run(self):
        frame = np.zeros((16, 16, 3), np.uint8)
        while True:
            await self.connected.wait()
            await self.emit(CallerOutput(main_video=frame))
"""


async def test_a_command_over_a_data_channel_knows_its_caller_and_can_answer_it_alone(
    tmp_path,
) -> None:
    from client.served import reactor_run

    from reactor_runtime.client import connect

    (tmp_path / "model.py").write_text(CALLER_MODEL)
    (tmp_path / "reactor.yaml").write_text("model: model:CallerModel\nname: caller\n")
    with reactor_run(tmp_path) as served:
        async with (
            connect(served.url, audio=False) as first,
            connect(served.url, audio=False) as second,
        ):
            kind, data = await first.command("whoami")
            assert kind == "caller" and data["id"].startswith("s1-")
            assert (await first.wait_message("whisper", timeout=5)) == {"text": "only you"}
            kind, other = await second.command("whoami")
            assert other["id"] != data["id"]
            await second.wait_message("whisper", timeout=5)
            # Each whisper went to its caller alone: the first viewer got exactly one.
            assert [m for m in first.message_log if m[0] == "whisper"] == [
                ("whisper", {"text": "only you"})
            ]
