"""TLS: the cached self-signed certificate, operator pairs, and `reactor run` over https://."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import re
import socket
import ssl
import stat
from pathlib import Path

import httpx
import pytest
from client.served import reactor_run
from server_harness import SAMPLE_DIR

from reactor_runtime.server.exposure import Exposure, ExposureError, add_arguments
from reactor_runtime.server.tls import VALIDITY, TlsError, host_names, load_pair, self_signed

NAMES = ("localhost", "127.0.0.1", "::1", "runtime.test")
TOKEN = "tls-test-token"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    add_arguments(parser)
    return parser.parse_args(argv)


def presented_fingerprint(host: str, port: int) -> str:
    """SHA-256 of the certificate a TLS server presents, as `reactor run` prints it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return hashlib.sha256(der).digest().hex(":").upper()


def test_a_self_signed_certificate_covers_the_names_and_is_reused_from_the_cache(
    tmp_path: Path,
) -> None:
    made, fresh = self_signed(NAMES, tmp_path)
    assert fresh and set(NAMES) <= set(made.names)
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600
    again, fresh_again = self_signed(NAMES[:2], tmp_path)
    assert not fresh_again and again.fingerprint == made.fingerprint


def test_the_certificate_is_made_again_for_new_names_or_near_its_expiry(tmp_path: Path) -> None:
    first, _ = self_signed(NAMES, tmp_path)
    wider, fresh = self_signed((*NAMES, "10.77.0.1"), tmp_path)
    assert fresh and wider.fingerprint != first.fingerprint and "10.77.0.1" in wider.names
    later = dt.datetime.now(dt.UTC) + VALIDITY
    renewed, fresh = self_signed(NAMES, tmp_path, now=later)
    assert fresh and renewed.fingerprint != wider.fingerprint


def test_a_wildcard_host_covers_loopback_the_hostname_and_interface_addresses() -> None:
    names = host_names("0.0.0.0")
    assert {"localhost", "127.0.0.1", "::1", socket.gethostname().lower()} <= set(names)
    assert "0.0.0.0" not in names
    assert host_names("10.77.0.1")[0] == "10.77.0.1"


def test_an_operator_pair_that_does_not_match_is_refused_naming_both_files(
    tmp_path: Path,
) -> None:
    one, _ = self_signed(NAMES, tmp_path / "one")
    other, _ = self_signed(NAMES, tmp_path / "other")
    assert load_pair(one.cert, one.key).fingerprint == one.fingerprint
    with pytest.raises(TlsError, match=r"the key .*other.* does not match the certificate .*one"):
        load_pair(one.cert, other.key)
    with pytest.raises(TlsError, match=r"cannot read the certificate .*absent"):
        load_pair(tmp_path / "absent", one.key)
    with pytest.raises(TlsError, match="expected a PEM certificate"):
        load_pair(SAMPLE_DIR / "reactor.yaml", one.key)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tls-cert", "x.pem"], "--tls-cert: expected --tls-key"),
        (["--tls-key", "x.pem"], "--tls-key: expected --tls-cert"),
        (["--tls", "self-signed", "--tls-cert", "a", "--tls-key", "b"], "expected no --tls-cert"),
        (["--cors-origin", "app.example"], "--cors-origin: expected an origin"),
        (["--token", "with space"], "--token 1: expected letters"),
    ],
)
def test_unusable_access_flags_say_which_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ExposureError, match=re.escape(message)):
        Exposure.from_args(parse(*argv), environ={})


def test_a_reachable_host_without_a_token_or_tls_is_warned_about(tmp_path: Path) -> None:
    assert Exposure.from_args(parse("--host", "127.0.0.1"), environ={}).warnings() == []
    bare = " ".join(Exposure.from_args(parse("--host", "10.77.0.1"), environ={}).warnings())
    assert "without --token" in bare and "--tls self-signed" in bare
    guarded = Exposure.from_args(parse("--host", "10.77.0.1", "--token", TOKEN), environ={})
    assert "unencrypted" in " ".join(guarded.warnings())


def test_tokens_come_from_the_file_named_by_reactor_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# ops\n{TOKEN}\nsecond\n")
    exposure = Exposure.from_args(parse(), environ={"REACTOR_TOKENS": str(path)})
    assert len(exposure.tokens) == 2 and exposure.tokens.accepts("second")
    assert exposure.page_url("http://h:1/") == f"http://h:1/#token={TOKEN}"
    assert TOKEN not in repr(exposure)


def test_reactor_run_serves_https_with_a_stable_self_signed_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cert = tmp_path / "reactor" / "tls" / "self-signed.crt"
    printed = []
    for _ in range(2):
        with reactor_run(SAMPLE_DIR, "--tls", "self-signed", "--token", TOKEN) as served:
            assert served.url.startswith("https://127.0.0.1:")
            port = int(served.url.rsplit(":", 1)[1])
            (line,) = [line for line in served.lines if "TLS certificate" in line]
            printed.append(line.rsplit("SHA-256 ", 1)[1])
            assert presented_fingerprint("127.0.0.1", port) == printed[-1]
            assert f"reactor: open {served.url}/#token={TOKEN}" in "\n".join(served.lines)
            with httpx.Client(base_url=served.url, verify=str(cert), timeout=5) as http:
                assert http.get("/health").status_code == 200
                refused = http.get("/session")
                assert refused.status_code == 401
                assert refused.headers["www-authenticate"] == "Bearer"
                accepted = http.get("/session", headers={"Authorization": f"Bearer {TOKEN}"})
                assert accepted.status_code == 200
    assert printed[0] == printed[1], "a restart must present the same certificate"
