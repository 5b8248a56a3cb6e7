"""Run the official-SDK client scripts (``clients/``) inside a private network.

Each script prints one JSON line describing its session (see
``clients/README.md``). `run_client` runs one inside a `PrivateNetwork` and
returns that line parsed::

    result = run_client(net, "py", f"http://{net.address}:8080",
                        command="set_prompt", args={"prompt": "a forest"})
    assert result["ok"], result["error"]
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from e2e.netns import PrivateNetwork

CLIENTS_DIR = Path(__file__).resolve().parent / "clients"
PY_CLIENT = CLIENTS_DIR / "py_sdk_client.py"
JS_DIR = CLIENTS_DIR / "js"
JS_CLIENT = JS_DIR / "js_sdk_client.mjs"
PY_SDK_VERSION = "1.13.0"
JS_SDK_VERSION = "2.9.0"


def py_client_missing() -> str | None:
    """Why the Python SDK client cannot run here, or None if it can."""
    try:
        version = importlib.metadata.version("reactor-sdk")
    except importlib.metadata.PackageNotFoundError:
        return f"reactor-sdk is not installed (pip install reactor-sdk=={PY_SDK_VERSION})"
    if version != PY_SDK_VERSION:
        return f"reactor-sdk {version} is installed; the client targets {PY_SDK_VERSION}"
    return None


def js_client_missing() -> str | None:
    """Why the JS SDK client cannot run here, or None if it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    manifest = JS_DIR / "node_modules" / "@reactor-team" / "js-sdk" / "package.json"
    wrtc = JS_DIR / "node_modules" / "@roamhq" / "wrtc" / "package.json"
    if not manifest.exists() or not wrtc.exists():
        return f"JS client dependencies missing: run `npm ci` in {JS_DIR}"
    version = json.loads(manifest.read_text())["version"]
    if version != JS_SDK_VERSION:
        return f"@reactor-team/js-sdk {version} is installed; the client targets {JS_SDK_VERSION}"
    return None


def client_argv(
    sdk: str,
    url: str,
    *,
    command: str | None = None,
    args: dict[str, Any] | None = None,
    publish_track: str | None = None,
    seconds: float = 5.0,
    timeout: float = 60.0,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The command line that runs one client script (``sdk`` is "py" or "js")."""
    if sdk == "py":
        argv = [sys.executable, str(PY_CLIENT)]
    elif sdk == "js":
        argv = ["node", str(JS_CLIENT)]
    else:
        raise ValueError(f"unknown sdk {sdk!r}: use 'py' or 'js'")
    argv += ["--url", url, "--seconds", str(seconds), "--timeout", str(timeout)]
    if command:
        argv += ["--command", command, "--args", json.dumps(args or {})]
    if publish_track:
        argv += ["--publish-track", publish_track]
    return [*argv, *extra]


def run_client(net: PrivateNetwork, sdk: str, url: str, **options: Any) -> dict[str, Any]:
    """Run a client script inside `net` and return its parsed JSON result line.

    Args:
        net: The private network to run in.
        sdk: "py" or "js".
        url: The runtime's base URL, e.g. ``http://10.77.0.1:8080``.
        **options: Keyword arguments of `client_argv`.

    Returns:
        The result document; ``result["stderr"]`` holds the script's stderr tail.

    Raises:
        AssertionError: If the script printed no JSON line.
    """
    argv = client_argv(sdk, url, **options)
    limit = float(options.get("timeout", 60.0)) + 30
    done = net.run(argv, timeout=limit, capture_output=True, text=True, cwd=CLIENTS_DIR)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{sdk} client printed no JSON (exit {done.returncode}):\n{done.stderr[-4000:]}"
    result = json.loads(lines[-1])
    result["stderr"] = done.stderr[-4000:]
    return result


def install_js_client() -> subprocess.CompletedProcess:
    """Install the JS client's locked dependencies (``npm ci``) into ``clients/js``."""
    return subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
