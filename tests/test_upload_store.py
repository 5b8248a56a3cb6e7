"""Uploads in-process: the store, resolving `UploadedFile` arguments, `@file_uploaded`."""

import asyncio
import gc
import os
import subprocess
import sys
import threading

import pytest
from sessions import running

from reactor_runtime import (
    ModelMessage,
    ReactorModel,
    UploadedFile,
    event,
    file_uploaded,
    session_ended,
)
from reactor_runtime.events import CommandError
from reactor_runtime.upload_store import (
    FOLDER_PREFIX,
    UnresolvedUpload,
    UploadError,
    UploadStore,
    sweep_orphans,
)


async def pieces(*chunks: bytes):
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk


class Count(ModelMessage):
    names: list[str]
    sizes: list[int]


class Gallery(ReactorModel):
    async def run(self):
        await asyncio.Event().wait()

    def load(self, config):
        self.heard = []

    @event(description="Count the files")
    def count(self, files: list[UploadedFile], cover: UploadedFile | None = None) -> Count:
        everything = [*files, *([cover] if cover else [])]
        return Count([f.name for f in everything], [len(f.data) for f in everything])

    @file_uploaded
    def heard_of(self, uploaded_file):
        self.heard.append(uploaded_file.name)


async def test_a_command_sent_while_the_bytes_arrive_waits_for_them():
    store = UploadStore()
    upload = store.reserve("a.txt", 4, "text/plain")
    fetching = asyncio.create_task(store.fetch(upload.upload_id, wait=5))
    await asyncio.sleep(0.01)
    assert not fetching.done()
    await store.write(upload.key, pieces(b"ab", b"cd"))
    file = await asyncio.wait_for(fetching, 5)
    assert (file.name, file.size, file.data, file.path.exists()) == ("a.txt", 4, b"abcd", True)
    store.clear()
    assert not file.path.exists()


async def test_an_upload_never_written_is_unresolved_after_the_wait():
    store = UploadStore()
    upload = store.reserve("a.txt", 4, "text/plain")
    with pytest.raises(UnresolvedUpload, match=r"has not been written within 0\.05 s"):
        await store.fetch(upload.upload_id, wait=0.05)
    assert store.stats()["unresolved"] == 1
    store.clear()


async def test_a_write_that_ends_early_leaves_the_upload_empty_for_a_retry():
    store = UploadStore()
    upload = store.reserve("a.txt", 4, "text/plain")
    with pytest.raises(UploadError, match="got 2 bytes"):
        await store.write(upload.key, pieces(b"ab"))
    assert not upload.path.exists()
    await store.write(upload.key, pieces(b"abcd"))
    assert upload.path.read_bytes() == b"abcd"
    store.clear()
    assert not upload.path.parent.exists()


async def test_lists_and_optional_files_resolve_inline_and_hooks_run_once_per_upload():
    async with running(Gallery) as (session, _rec):
        ids = []
        for name, data in (("a.png", b"aa"), ("b.png", b"bbb")):
            upload = session.uploads.reserve(name, len(data), "image/png")
            await session.uploads.write(upload.key, pieces(data))
            ids.append(upload.upload_id)
        assert await session.file_uploaded(ids[0]) is True
        assert await session.file_uploaded(ids[0]) is False
        assert session.model.heard == ["a.png"]
        files = [{"upload_id": i} for i in ids]
        reply = await session.dispatch("count", {"files": files}, uploads={"cover": ids[1]})
        assert reply == ("count", {"names": ["a.png", "b.png", "b.png"], "sizes": [2, 3, 3]})
        with pytest.raises(CommandError) as failed:
            await session.dispatch("count", {"files": [{"upload_id": "nope"}]})
        assert failed.value.code == "unresolved_upload"
        assert "argument 'files.0'" in failed.value.message
        folder = session.uploads.folder
        await session.end_session()
        assert not folder.exists()


def test_a_file_uploaded_hook_must_take_uploaded_file():
    with pytest.raises(TypeError, match=r"expected the parameters \(self, uploaded_file\)"):

        class Wrong(ReactorModel):
            @file_uploaded
            def heard(self, file):
                pass


class SlowToEnd(ReactorModel):
    async def run(self):
        await asyncio.Event().wait()

    def load(self, config):
        self.ending = threading.Event()

    @session_ended
    async def linger(self):
        self.ending.set()
        await asyncio.Event().wait()


async def test_a_store_dropped_without_clear_deletes_its_folder():
    store = UploadStore()
    upload = store.reserve("a.txt", 2, "text/plain")
    await store.write(upload.key, pieces(b"ab"))
    folder = store.folder
    assert folder is not None and folder.name.startswith(f"{FOLDER_PREFIX}{os.getpid()}-")
    del store, upload
    gc.collect()
    assert not folder.exists()


async def test_a_session_end_cancelled_in_its_hooks_still_deletes_the_files():
    async with running(SlowToEnd) as (session, _rec):
        upload = session.uploads.reserve("a.txt", 2, "text/plain")
        await session.uploads.write(upload.key, pieces(b"ab"))
        ending = asyncio.create_task(session.end_session())
        assert await asyncio.to_thread(session.model.ending.wait, 5)
        ending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ending
        assert not upload.path.parent.exists()


WRITE_AND_EXIT = """
import asyncio, os, sys
from reactor_runtime.upload_store import UploadStore

async def main():
    store = UploadStore()
    upload = store.reserve("a.txt", 2, "text/plain")
    async def body():
        yield b"ab"
    await store.write(upload.key, body())
    print(store.folder, flush=True)
    if sys.argv[1] == "killed":
        os._exit(0)  # no exit handlers: as if the process were killed

asyncio.run(main())
"""


def _upload_then(how: str, tmp_path) -> str:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", WRITE_AND_EXIT, how], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_process_exiting_with_uploads_leaves_no_folder_and_a_killed_ones_is_swept(tmp_path):
    exited = _upload_then("exits", tmp_path)
    assert exited.startswith(str(tmp_path)) and not os.path.exists(exited)
    killed = _upload_then("killed", tmp_path)
    assert os.listdir(killed) != []
    live = tmp_path / f"{FOLDER_PREFIX}{os.getpid()}-mine"
    live.mkdir()
    assert sweep_orphans(str(tmp_path)) == 1
    assert not os.path.exists(killed) and live.exists()
