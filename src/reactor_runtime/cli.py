"""The `reactor` command: `run`, `render`, `fleet`, `schema` (a model's contract), `init`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

COMMANDS = {
    "run": ("reactor_runtime.server.main", "serve a model over WebRTC with a browser page"),
    "render": ("reactor_runtime.render", "run a model offline and write its A/V to an MP4"),
    "fleet": ("reactor_runtime.fleet.main", "serve replicas of a model on Ray behind one gateway"),
    "schema": ("reactor_runtime.schema", "print a model's OpenAPI document without serving it"),
    "init": ("reactor_runtime.scaffold", "write a runnable model project to start from"),
}


def setup_logging(verbose: int, json_logs: bool = False) -> None:
    """Quiet by default (warnings); `-v` for info, `-vv` for debug; key=value lines."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    if json_logs:
        fmt = '{"ts":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":%(message)r}'
    else:
        fmt = "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    if verbose < 2:
        for noisy in ("aioice", "aiortc", "uvicorn.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="reactor", description=__doc__)
    parser.add_argument("--version", action="version", version=f"reactor_runtime {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only a missing sub-command module is skipped; its own missing imports are bugs.
            if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
                raise
            continue
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("-v", "--verbose", action="count", default=0, help="more logs (-vv debug)")
        cmd.add_argument("--log-json", action="store_true", help="log one JSON object per line")
        module.add_arguments(cmd)
        cmd.set_defaults(entry=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `reactor` console script."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.log_json)
    return int(args.entry(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
