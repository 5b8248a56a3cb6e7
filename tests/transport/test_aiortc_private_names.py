"""Every private aiortc name the package relies on is declared, and exists in this aiortc.

An aiortc upgrade that renames one of them fails here, by name, rather than somewhere
in a session.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Any

import aioice
import aiortc
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs.h264 import H264Encoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

import reactor_runtime
from reactor_runtime.transport.aiortc_private import require

PACKAGE = Path(reactor_runtime.__file__).parent
LIBRARIES = [Path(aiortc.__file__).parent, Path(aioice.__file__).parent]
LIBRARY_NAMES = ("aiortc", "aioice")
MANGLED = re.compile(r"\b_([A-Z][A-Za-z0-9]*)__([a-z][a-z0-9_]*)\b")
IMPORT = re.compile(r"from (?:aiortc|aioice)[.\w]* import (\([^)]*\)|[^\n]*)")
ACCESS = re.compile(r"(?<![\w.])(?!self\.|cls\.)([A-Za-z_]\w*(?:\.\w+)*)\.(_[a-z][A-Za-z0-9_]*)\b")
DEFINES = re.compile(r"(?:self\.(_[a-z][A-Za-z0-9_]*)\s*(?::[^=\n]*)?=|def (_[a-z]\w*)\()")


def _sources(root: Path) -> dict[Path, str]:
    return {path: path.read_text() for path in root.rglob("*.py")}


def _modules() -> list[Any]:
    return [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages([str(PACKAGE)], "reactor_runtime.")
    ]


def _declared() -> dict[str, set[str]]:
    """Attribute -> the classes it is declared for, over every module's AIORTC_PRIVATE."""
    entries: list[str] = []
    for module in _modules():
        entries.extend(getattr(module, "AIORTC_PRIVATE", ()))
    out: dict[str, set[str]] = {}
    for entry in entries:
        owner, attr = entry.split(".", 1)
        out.setdefault(attr, set()).add(owner)
    return out


def _used() -> dict[str, list[str]]:
    """Private aiortc names found in the package's source -> where (file:line)."""
    theirs: set[str] = set()
    for text in (t for root in LIBRARIES for t in _sources(root).values()):
        theirs.update(a or b for a, b in DEFINES.findall(text))
    ours_src = _sources(PACKAGE)
    ours = {a or b for text in ours_src.values() for a, b in DEFINES.findall(text)}
    used: dict[str, list[str]] = {}
    for path, text in ours_src.items():
        for names in IMPORT.findall(text):
            for name in (n.split(" as ")[0].strip(" ()\n") for n in names.split(",")):
                if name.startswith("_"):
                    used.setdefault(name, []).append(str(path.relative_to(PACKAGE)))
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{path.relative_to(PACKAGE)}:{number}"
            for owner, attr in MANGLED.findall(line):
                used.setdefault(f"_{owner}__{attr}", []).append(where)
            for _obj, name in ACCESS.findall(line):
                if name in theirs and name not in ours:
                    used.setdefault(name, []).append(where)
    _add_inherited(used)
    return used


def _add_inherited(used: dict[str, list[str]]) -> None:
    """Private names of an aiortc base class that our subclass reads or overrides."""
    for module in _modules():
        for cls in vars(module).values():
            if not isinstance(cls, type) or cls.__module__ != module.__name__:
                continue
            bases = [b for b in cls.__mro__[1:] if b.__module__.split(".")[0] in LIBRARY_NAMES]
            theirs = {a or b for base in bases for a, b in DEFINES.findall(inspect.getsource(base))}
            own = inspect.getsource(cls)
            touched = set(re.findall(r"(?:self\.|super\(\)\.|def )(_[a-z]\w*)", own))
            for name in touched & theirs:
                used.setdefault(name, []).append(f"{module.__name__}.{cls.__name__}")


def test_every_private_aiortc_name_used_is_declared_in_an_aiortc_private_tuple():
    declared = _declared()
    used = _used()
    # The scan does find the bends (so an empty result cannot pass silently).
    assert {"_RTCRtpSender__rtt", "_advertised_rwnd", "_handle_rtp_packet"} <= used.keys()
    assert {"_origin", "_next_encoded_frame"} <= used.keys(), "subclasses' inherited names"
    undeclared = {name: where for name, where in used.items() if name not in declared}
    assert not undeclared, f"private aiortc names used but not in any AIORTC_PRIVATE: {undeclared}"


async def test_every_declared_private_name_exists_in_this_aiortc():
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video")
        pc.createDataChannel("probe")
        await pc.setLocalDescription(await pc.createOffer())
        dtls = transceiver.sender.transport
        gatherer = dtls.transport.iceGatherer
        objects: list[Any] = [
            transceiver,
            transceiver.sender,
            transceiver.receiver,
            dtls,
            dtls.transport,
            gatherer,
            gatherer._connection,
            pc.sctp,
            JitterBuffer(capacity=16),
            HeaderExtensionsMap(),
            RtpPacket(),
            H264Encoder,
        ]
        by_class: dict[str, Any] = {}
        for obj in objects:
            cls = obj if isinstance(obj, type) else type(obj)
            for base in cls.__mro__:
                by_class.setdefault(base.__name__, obj)
        assigned = {
            a or b
            for root in LIBRARIES
            for t in _sources(root).values()
            for a, b in re.findall(r"\.(_[a-z]\w*)\s*=|def (_[a-z]\w*)\(", t)
        }
        absent = []
        for attr, owners in _declared().items():
            for owner in owners:
                assert owner in by_class, f"no {owner} instance to check {attr} on"
                obj = by_class[owner]
                # A name aiortc sets on objects it passes around (a packet's `_data`).
                if not hasattr(obj, attr) and not (owner == "RtpPacket" and attr in assigned):
                    absent.append(f"{owner}.{attr}")
        assert not absent, f"declared but missing in aiortc {aiortc.__version__}: {absent}"
    finally:
        await pc.close()


def test_a_missing_private_name_is_refused_naming_it_and_the_bending_module():
    declared = ("RTCRtpSender._RTCRtpSender__rtt", "RTCRtpSender._RTCRtpSender__gone")

    class RTCRtpSender:
        _RTCRtpSender__rtt = None

    with pytest.raises(RuntimeError, match=r"RTCRtpSender has no _RTCRtpSender__gone: x\.py"):
        require(RTCRtpSender(), "RTCRtpSender", declared, "x.py")
    require(RTCRtpSender(), "RTCRtpSender", declared[:1], "x.py")
