"""`reactor_runtime.client` against a runtime guarded by a token and served over https://."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from client.served import CONFORMANCE_MODEL, Served, reactor_run

from reactor_runtime.client import ConnectError, connect

TOKEN = "client-access-token"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    """The conformance model behind `--token` and `--tls self-signed`, and its certificate."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("XDG_CACHE_HOME", str(cache))
        with reactor_run(CONFORMANCE_MODEL, "--token", TOKEN, "--tls", "self-signed") as served:
            yield served, cache / "reactor" / "tls" / "self-signed.crt"


async def test_the_client_with_the_token_receives_video_over_https(guarded) -> None:
    served, cert = guarded
    assert served.url.startswith("https://")
    async with connect(served.url, token=TOKEN, verify=str(cert), audio=False) as session:
        frame = await session.video().next(timeout=10)
        assert frame.array.shape == (240, 320, 3)
        assert await session.command("echo", text="hi") == ("echoed", {"text": "hi"})


@pytest.mark.parametrize("token", [None, "not-the-token"])
async def test_the_client_without_the_right_token_is_refused_with_401(guarded, token) -> None:
    served, cert = guarded
    with pytest.raises(ConnectError, match="POST /start_session: HTTP 401") as refused:
        await connect(served.url, token=token, verify=str(cert), timeout=5)
    assert "not-the-token" not in str(refused.value)
