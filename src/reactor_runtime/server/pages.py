"""What the runtime shows besides the wire routes: the page, the schema document."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..schema import session_schema

if TYPE_CHECKING:
    from .runtime import Runtime

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
"""The browser page's files (`index.html` and what it loads), when installed."""

MAX_PAGE_PATH = 1024
"""Longest path looked up among the page's files; theirs are a few dozen characters."""

ROUTES = (
    ("GET", "/", "this page"),
    ("GET", "/health", "state, viewers, uptime, counters (JSON)"),
    ("GET", "/metrics", "Prometheus metrics"),
    ("GET", "/schema", "OpenAPI document of the model's commands, messages and tracks"),
    ("POST", "/start_session", "start a session (idempotent); returns the session descriptor"),
    ("POST", "/stop_session", "end the session; every viewer is disconnected"),
    ("GET", "/session", "the session descriptor"),
    ("GET", "/sessions/{sid}/transport/webrtc/ice_servers", "ICE servers for clients"),
    ("POST|PUT|GET", "/sessions/{sid}/transport/webrtc/sdp_params", "flat offer / answer (JS SDK)"),
    ("POST", "/sessions/{sid}/transport/webrtc/connections", "create a connection (Python SDK)"),
    (
        "POST|PUT|GET",
        "/sessions/{sid}/transport/webrtc/connections/{cid}/sdp_params",
        "offer / answer on a connection",
    ),
    (
        "POST",
        "/sessions/{sid}/transport/webrtc/connections/{cid}/ice_candidates",
        "trickle ICE candidates",
    ),
)


def web_file(relative: str) -> Path | None:
    """A file of the installed page, or None; never raises, whatever `relative` holds.

    None for anything outside `WEB_DIR` (`..`, absolute paths, symlinks leading out)
    and for names the file system refuses (too long, a NUL byte, undecodable).
    """
    relative = relative or "index.html"
    if len(relative) > MAX_PAGE_PATH or "\x00" in relative:
        return None
    try:
        root = WEB_DIR.resolve()
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
    except (OSError, ValueError, RuntimeError):
        # RuntimeError: a symlink loop, on Pythons that raise it from resolve().
        return None
    return candidate


def fallback_index(runtime: Runtime) -> str:
    """A minimal page used until the browser page is installed: status and the API."""
    rows = "\n".join(
        f"<tr><td>{m}</td><td><code>{html.escape(p)}</code></td><td>{html.escape(d)}</td></tr>"
        for m, p, d in ROUTES
    )
    name = html.escape(runtime.model_name)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name} · reactor_runtime</title>
<style>body{{font:15px system-ui,sans-serif;margin:2em;max-width:60em}}
td{{padding:.2em .8em;vertical-align:top}}code{{font-size:90%}}</style></head>
<body><h1>reactor_runtime {__version__} is up</h1>
<p>Serving model <b>{name}</b> ({html.escape(runtime.model_version)}).
State: <b id="state">{html.escape(runtime.state)}</b>.
Connect with the Reactor JS or Python SDK at this URL.</p>
<h2>API</h2><table>{rows}</table></body></html>
"""


def schema_document(runtime: Runtime) -> dict[str, Any]:
    """The model's published contract (`schema.py`): the document data channels answer too."""
    return session_schema(runtime.session, runtime.model_name)
