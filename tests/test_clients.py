"""`ClientInfo`: one viewer, as a handler sees it."""

import pytest

from reactor_runtime import ClientInfo, ModelMessage


class Hello(ModelMessage):
    text: str


async def test_client_info_sends_to_its_own_viewer_only():
    got = []
    client = ClientInfo(id="viewer-1", joined_at=12.5, _send=got.append)

    await client.send(Hello("hi"))
    await ClientInfo(id="unbound", joined_at=0.0).send(Hello("nobody"))

    assert [m.text for m in got] == ["hi"] and client.system is False
    with pytest.raises(TypeError, match="expected a ModelMessage instance, got dict"):
        await client.send({"type": "hello"})
