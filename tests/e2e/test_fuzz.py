"""Fuzz the live runtime with hostile HTTP and data-channel frames while a viewer watches.

One `reactor run` of the conformance model inside a private network namespace;
`fuzz_driver.py` (run in the same namespace) keeps a v1 viewer receiving video while
it sends hostile requests on every route, then floods hostile v1 and v0 frames. The
test then checks that nothing answered 500 (a 501 for an unsupported API version and
a 503 with `Retry-After` at a real limit are fine), nothing hung, video kept flowing,
memory stayed bounded, the server still runs, and a fresh official-client session
works afterwards. The seed is fixed so a failure replays; `REACTOR_FUZZ_SEED` picks
another.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from client.served import CONFORMANCE_MODEL, reactor_run
from e2e.netns import private_network
from e2e.sdk_clients import py_client_missing, run_client

DRIVER = Path(__file__).resolve().parent / "fuzz_driver.py"
SEED = int(os.environ.get("REACTOR_FUZZ_SEED", "20261205"))
RSS_GROWTH_LIMIT_MB = 100
"""Generous against the flood benchmark's 50 MB goal: CI machines differ in allocator slack."""
MAX_VIDEO_GAP_S = 2.0


def test_hostile_http_and_frames_leave_the_runtime_serving() -> None:
    with (
        private_network() as net,
        reactor_run(CONFORMANCE_MODEL, host=net.address, prefix=net.exec_prefix) as served,
    ):
        done = net.run(
            [
                sys.executable,
                str(DRIVER),
                "--url",
                served.url,
                "--pid",
                str(served.process.pid),
                "--seed",
                str(SEED),
            ],
            timeout=150,
            capture_output=True,
            text=True,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert lines, (
            f"the driver printed no report (exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
        report = json.loads(lines[-1])
        context = f"seed {SEED}; server log tail:\n" + "\n".join(served.lines[-30:])

        problems = _problems(report)
        assert served.process.poll() is None, f"the server exited\n{context}"
        assert not problems, "\n".join(problems) + f"\n{context}"

        reason = py_client_missing()
        if reason:
            pytest.skip(reason)
        result = run_client(
            net, "py", served.url, command="echo", args={"text": "fresh"}, seconds=2, timeout=40
        )
        assert result["ok"], f"{result['error']}\n{result['stderr']}"
        assert result["recv"]["main_video"]["frames"] >= 20, result["recv"]


def _problems(report: dict) -> list[str]:
    """Everything wrong in a driver report, one line each (all of them, not just the first)."""
    problems = []
    http = report["http"]
    distinct: dict[str, str] = {}
    for line in http["bad"]:
        distinct.setdefault(line.rsplit(" -> ", 1)[-1][:120], line)
    problems += [f"bad answer: {example}" for example in distinct.values()]
    problems += [f"hung: {line}" for line in http["hangs"][:10]]
    answered = sum(http["statuses"].values())
    if answered < 0.9 * (answered + http["refused_by_client"]):
        problems.append(f"too few requests could be sent: {http}")
    for phase in ("http", "v1", "v0"):
        if report[phase]["video_max_gap"] >= MAX_VIDEO_GAP_S:
            problems.append(f"video paused {report[phase]['video_max_gap']} s during {phase}")
    if report["v1"]["reply_after"] != {"text": "after the flood"}:
        problems.append(f"no command reply after the v1 flood: {report['v1']}")
    if not report["v1"]["frames_received"]:
        problems.append("the hostile v1 peer was never answered")
    if not report["v0"]["answered_after"]:
        problems.append(f"no v0 answer after the flood: {report['v0']}")
    growth = report["rss_max"] - report["rss_before"]
    if growth >= RSS_GROWTH_LIMIT_MB:
        problems.append(f"server RSS grew {growth:.0f} MB (limit {RSS_GROWTH_LIMIT_MB})")
    summary = {k: v for k, v in report.items() if k not in ("http",)}
    summary["http"] = {k: v for k, v in http.items() if k not in ("bad", "hangs")}
    if problems:
        problems.append(f"report: {json.dumps(summary)}")
    return problems
