"""`reactor run` options: ICE server lists, config overrides, the printed URL."""

from __future__ import annotations

import argparse
import socket

import pytest
from server_harness import SAMPLE_DIR

from reactor_runtime.server.ice import IceConfigError, parse_ice_servers
from reactor_runtime.server.main import UsageError, add_arguments, find_project, public_url


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_listen_on_loopback_8080_with_no_ice_servers() -> None:
    args = parse()
    assert (args.dir, args.host, args.port) == (None, "127.0.0.1", 8080)
    assert args.ice_servers is None and args.video_codec == "vp8"
    assert args.orphan_timeout == 60 and args.overrides == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, []),
        ("", []),
        ("stun:10.0.0.1:3478", [{"uris": ["stun:10.0.0.1:3478"]}]),
        (
            "stun:a:1, turn:b:2?transport=tcp",
            [{"uris": ["stun:a:1"]}, {"uris": ["turn:b:2?transport=tcp"]}],
        ),
        ('["stun:a:1"]', [{"uris": ["stun:a:1"]}]),
        (
            '[{"urls": "turn:b:2", "username": "u", "credential": "p"}]',
            [{"uris": ["turn:b:2"], "credentials": {"username": "u", "password": "p"}}],
        ),
        (
            '[{"uris": ["turns:c:5349"], "credentials": {"username": "u", "password": "p"}}]',
            [{"uris": ["turns:c:5349"], "credentials": {"username": "u", "password": "p"}}],
        ),
    ],
)
def test_ice_servers_parse_from_comma_lists_and_json(text: str | None, expected: list) -> None:
    assert parse_ice_servers(text) == expected


@pytest.mark.parametrize(
    "text", ["http://x", "[1]", "[{}]", '[{"uris": ["stun:a"], "credentials": 3}]', "[nope"]
)
def test_unusable_ice_servers_say_what_is_wrong(text: str) -> None:
    with pytest.raises(IceConfigError, match="ICE servers"):
        parse_ice_servers(text)


def test_config_overrides_are_yaml_values_and_dotted_keys_nest() -> None:
    args = parse(
        str(SAMPLE_DIR), "--config", "gray=7", "--config", "a.b=[1, 2]", "--config", "s=hi"
    )
    project = find_project(args.dir, args.overrides)
    assert project.config == {"gray": 7, "a": {"b": [1, 2]}, "s": "hi"}


def test_a_config_option_without_a_value_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse("--config", "novalue")
    assert exit_info.value.code == 2


def test_a_missing_model_directory_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(UsageError, match=r"reactor\.yaml"):
        find_project(str(tmp_path), [])


def test_the_printed_url_is_openable_even_for_wildcard_hosts() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert public_url("127.0.0.1", sock) == f"http://127.0.0.1:{port}/"
        assert public_url("0.0.0.0", sock) == f"http://127.0.0.1:{port}/"
