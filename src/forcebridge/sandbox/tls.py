"""The sandbox's local certificate authority and the server certificate it signs.

The vendors' real clients insist on HTTPS (simple-salesforce hard-codes ``https://`` into every
URL it builds), so the sandbox serves TLS with a certificate that clients trust *by path*: a
private CA generated on first start and kept in the data directory, never added to the system
trust store. Files, all in ``data_dir``:

    ca.pem, ca-key.pem            the certificate authority (key mode 0600)
    server.pem, server-key.pem    the server certificate for 127.0.0.1, localhost and ::1

They are reused across restarts, so a client configured once keeps working, and regenerated
when missing, unreadable, expiring soon or no longer signed by the CA on disk.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE_NAME = "ca.pem"
CA_KEY_FILE_NAME = "ca-key.pem"
SERVER_CERT_FILE_NAME = "server.pem"
SERVER_KEY_FILE_NAME = "server-key.pem"

SERVER_DNS_NAMES = ("localhost",)
SERVER_IP_ADDRESSES = ("127.0.0.1", "::1")

CA_LIFETIME = datetime.timedelta(days=3650)
# Browsers and some TLS stacks reject leaf certificates valid for more than 398 days.
SERVER_LIFETIME = datetime.timedelta(days=397)
# Renew a little before expiry so a long-running sandbox never serves an expired certificate.
RENEWAL_MARGIN = datetime.timedelta(days=7)
# Tolerate a client clock slightly behind ours.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the CA certificate (what clients trust) and of the server's certificate and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts exactly the sandbox CA (for httpx2's ``verify=``)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def ensure_certificates(data_dir: Path) -> TlsFiles:
    """Returns usable CA and server certificate files in ``data_dir``, creating them if needed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_file=data_dir / CA_FILE_NAME,
        cert_file=data_dir / SERVER_CERT_FILE_NAME,
        key_file=data_dir / SERVER_KEY_FILE_NAME,
    )
    ca_key_file = data_dir / CA_KEY_FILE_NAME
    now = datetime.datetime.now(datetime.UTC)

    authority = _load_authority(files.ca_file, ca_key_file, now)
    if authority is None:
        authority = _create_authority(now)
        _write_private_key(ca_key_file, authority[1])
        _write_certificate(files.ca_file, authority[0])
    ca_certificate, ca_key = authority

    if not _server_certificate_is_usable(files.cert_file, files.key_file, ca_certificate, now):
        certificate, key = _create_server_certificate(ca_certificate, ca_key, now)
        _write_private_key(files.key_file, key)
        _write_certificate(files.cert_file, certificate)
    return files


def _load_authority(
    ca_file: Path, ca_key_file: Path, now: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    try:
        certificate = x509.load_pem_x509_certificate(ca_file.read_bytes())
        key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if key.public_key().public_numbers() != _ec_public_numbers(certificate):
        return None
    if certificate.not_valid_after_utc - RENEWAL_MARGIN <= now:
        return None
    return certificate, key


def _ec_public_numbers(certificate: x509.Certificate) -> ec.EllipticCurvePublicNumbers | None:
    public_key = certificate.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_numbers()
    return None


def _server_certificate_is_usable(
    cert_file: Path, key_file: Path, ca_certificate: x509.Certificate, now: datetime.datetime
) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return False
    if key.public_key().public_numbers() != _ec_public_numbers(certificate):
        return False
    if certificate.not_valid_after_utc - RENEWAL_MARGIN <= now:
        return False
    try:
        # Raises when the CA on disk was regenerated since this certificate was issued.
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _create_authority(
    now: datetime.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ForceBridge sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "ForceBridge sandbox local CA"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _create_server_certificate(
    ca_certificate: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    alternative_names: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVER_DNS_NAMES]
    alternative_names += [
        x509.IPAddress(ipaddress.ip_address(address)) for address in SERVER_IP_ADDRESSES
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ForceBridge sandbox"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                ]
            )
        )
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + SERVER_LIFETIME, ca_certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate, key


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(path, pem)


def _write_certificate(path: Path, certificate: x509.Certificate) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    os.replace(temporary, path)


def write_private_file(path: Path, content: bytes) -> None:
    """Writes ``content`` to ``path`` readable by its owner only (0600), replacing it atomically.

    The file is created with mode 0600 rather than chmod-ed afterwards, so the secret is never
    readable by others, not even for an instant.
    """
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(content)
    os.chmod(temporary, 0o600)  # in case a umask or an existing ACL widened it
    os.replace(temporary, path)
