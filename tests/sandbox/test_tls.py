"""The sandbox CA and server certificate: created once, trusted by path, renewed when unusable."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import stat
from pathlib import Path

import time_machine
from cryptography import x509

from forcebridge.sandbox.tls import CA_KEY_FILE_NAME, TlsFiles, ensure_certificates


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_ca_and_server_files_in_the_data_directory(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "data")

    assert files == TlsFiles(
        ca_file=tmp_path / "data" / "ca.pem",
        cert_file=tmp_path / "data" / "server.pem",
        key_file=tmp_path / "data" / "server-key.pem",
    )
    for path in (
        files.ca_file,
        files.cert_file,
        files.key_file,
        tmp_path / "data" / CA_KEY_FILE_NAME,
    ):
        assert path.is_file()


def test_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)

    assert _mode(tmp_path / CA_KEY_FILE_NAME) == 0o600
    assert _mode(files.key_file) == 0o600


def test_server_certificate_names_every_loopback_address(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)

    names = (
        _certificate(files.cert_file)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }


def test_server_certificate_is_signed_by_the_ca_and_the_ca_is_a_ca(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    authority = _certificate(files.ca_file)
    server = _certificate(files.cert_file)

    server.verify_directly_issued_by(authority)
    assert authority.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_client_context_trusts_the_ca_file_and_checks_host_names(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)

    context = files.client_context()

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert [cert["subject"] for cert in context.get_ca_certs()] == [
        (
            (("organizationName", "ForceBridge sandbox"),),
            (("commonName", "ForceBridge sandbox local CA"),),
        )
    ]


def test_certificates_are_reused_across_restarts(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    contents = {
        path: path.read_bytes() for path in (first.ca_file, first.cert_file, first.key_file)
    }

    second = ensure_certificates(tmp_path)

    assert second == first
    assert {path: path.read_bytes() for path in contents} == contents


def test_missing_server_certificate_is_reissued_by_the_existing_ca(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    ca_before = files.ca_file.read_bytes()
    files.cert_file.unlink()

    ensure_certificates(tmp_path)

    assert files.ca_file.read_bytes() == ca_before
    _certificate(files.cert_file).verify_directly_issued_by(_certificate(files.ca_file))


def test_server_certificate_is_reissued_when_the_ca_was_replaced(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    old_server = files.cert_file.read_bytes()
    files.ca_file.unlink()  # e.g. someone deleted the CA to rotate it

    ensure_certificates(tmp_path)

    assert files.cert_file.read_bytes() != old_server
    _certificate(files.cert_file).verify_directly_issued_by(_certificate(files.ca_file))


def test_server_certificate_with_a_foreign_key_is_reissued(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    other = ensure_certificates(tmp_path / "other")
    files.key_file.write_bytes(other.key_file.read_bytes())

    ensure_certificates(tmp_path)

    server = _certificate(files.cert_file)
    server.verify_directly_issued_by(_certificate(files.ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert_file, files.key_file)  # raises when key and cert differ


def test_corrupt_files_are_replaced_rather_than_crashing(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    files.ca_file.write_text("not a certificate")
    files.key_file.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")

    ensure_certificates(tmp_path)

    _certificate(files.cert_file).verify_directly_issued_by(_certificate(files.ca_file))


def test_server_certificate_is_renewed_before_it_expires_but_the_ca_is_kept(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    ca_before = files.ca_file.read_bytes()
    expiry = _certificate(files.cert_file).not_valid_after_utc

    with time_machine.travel(expiry - datetime.timedelta(days=1), tick=False):
        ensure_certificates(tmp_path)

    assert files.ca_file.read_bytes() == ca_before
    assert _certificate(files.cert_file).not_valid_after_utc > expiry
