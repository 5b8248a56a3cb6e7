"""TLS for `reactor run`: a certificate pair given by the operator, or a cached self-signed one.

A browser on another machine grants camera and microphone only to a secure context,
so serving beyond localhost needs HTTPS. `--tls-cert/--tls-key` use the operator's
pair; `--tls self-signed` makes one with `cryptography` for the names the runtime is
reached by (`host_names`) and keeps it under `$XDG_CACHE_HOME/reactor/tls/` (else
`~/.cache/reactor/tls/`), so a restart presents the same certificate and a browser
exception or a pinned fingerprint stays valid. It is made again only when it no
longer covers the names, no longer matches its key, or is about to expire.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)
"""Lifetime of a self-signed certificate; browsers refuse longer ones from a CA (398 days)."""
RENEW_BEFORE = dt.timedelta(days=1)
"""A cached certificate this close to expiry is replaced, so it never expires mid-run."""
WILDCARDS = ("", "0.0.0.0", "::")
CERT_FILE = "self-signed.crt"
KEY_FILE = "self-signed.key"


class TlsError(Exception):
    """A certificate or key cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class TlsFiles:
    """A certificate chain and its key on disk, as uvicorn's `ssl_certfile`/`ssl_keyfile`."""

    cert: Path
    key: Path
    fingerprint: str
    """SHA-256 of the (first) certificate, colon-separated upper-case hex."""
    names: tuple[str, ...]
    """The DNS names and addresses the certificate is valid for."""


def cache_dir() -> Path:
    """Where self-signed certificates are kept: `$XDG_CACHE_HOME/reactor/tls`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reactor" / "tls"


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _interface_addresses() -> list[str]:
    import ifaddr  # aioice's dependency (so aiortc's): already installed

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip
            parsed = _address(address)
            # A link-local address needs a zone id, which no certificate can name.
            if parsed is not None and not parsed.is_link_local:
                found.append(str(parsed))
    return found


def host_names(host: str) -> tuple[str, ...]:
    """The names a certificate for a runtime listening on `host` should cover.

    Always `localhost`, `127.0.0.1`, `::1` and the machine's hostname; plus `host`
    itself, or every interface address when `host` is a wildcard (`0.0.0.0`, `::`).
    """
    names = [] if host in WILDCARDS else [host.strip("[]")]
    names += ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    if host in WILDCARDS:
        names += _interface_addresses()
    canonical = []
    for name in names:
        parsed = _address(name)
        canonical.append(str(parsed) if parsed is not None else name.lower().rstrip("."))
    return tuple(dict.fromkeys(n for n in canonical if n))


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 fingerprint as browsers show it: `AB:CD:…`."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def _first_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise TlsError(f"cannot read the certificate {path}: {exc.strerror}") from None
    except ValueError:
        raise TlsError(f"{path}: expected a PEM certificate (BEGIN CERTIFICATE)") from None


def _covered(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    dns = [name.lower() for name in san.get_values_for_type(x509.DNSName)]
    return (*dns, *(str(a) for a in san.get_values_for_type(x509.IPAddress)))


def load_pair(cert: str | Path, key: str | Path) -> TlsFiles:
    """Check that `cert` (PEM chain) and `key` (PEM) exist and belong together.

    Raises:
        TlsError: a file is missing or unreadable, not PEM, or the key does not match.
    """
    cert, key = Path(cert), Path(key)
    certificate = _first_certificate(cert)
    if not key.is_file():
        raise TlsError(f"cannot read the key {key}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TlsError(
            f"the key {key} does not match the certificate {cert}, or is not a PEM key "
            f"without a passphrase ({exc.reason or exc})"
        ) from None
    return TlsFiles(cert, key, fingerprint(certificate), _covered(certificate))


def _usable(cert: Path, key: Path, names: Iterable[str], now: dt.datetime) -> TlsFiles | None:
    try:
        files = load_pair(cert, key)
    except TlsError:
        return None
    expires = _first_certificate(cert).not_valid_after_utc
    if expires - RENEW_BEFORE <= now or not set(names) <= set(files.names):
        return None
    return files


def _write(path: Path, data: bytes, mode: int) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _make(names: tuple[str, ...], now: dt.datetime) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"reactor run ({names[0]})")])
    alternatives: list[x509.GeneralName] = []
    for name in names:
        address = _address(name)
        alternatives.append(x509.IPAddress(address) if address else x509.DNSName(name))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def self_signed(
    names: Iterable[str], directory: Path | None = None, now: dt.datetime | None = None
) -> tuple[TlsFiles, bool]:
    """The cached self-signed pair covering `names`, made (again) if it must be.

    Args:
        names: DNS names and IP addresses to cover (see `host_names`); not empty.
        directory: The cache (default `cache_dir()`); created private (0700).
        now: The time to judge expiry by (default: now, UTC).

    Returns:
        The pair, and whether it was just made (False: reused from the cache).

    Raises:
        TlsError: the cache directory cannot be written.
    """
    wanted = tuple(dict.fromkeys(names))
    if not wanted:
        raise ValueError("self_signed: expected at least one name, got none")
    directory = directory or cache_dir()
    now = now or dt.datetime.now(dt.UTC)
    cert, key = directory / CERT_FILE, directory / KEY_FILE
    cached = _usable(cert, key, wanted, now)
    if cached is not None:
        return cached, False
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        cert_pem, key_pem = _make(wanted, now)
        _write(key, key_pem, 0o600)
        _write(cert, cert_pem, 0o644)
    except OSError as exc:
        raise TlsError(f"cannot write the self-signed certificate to {directory}: {exc}") from None
    return load_pair(cert, key), True
