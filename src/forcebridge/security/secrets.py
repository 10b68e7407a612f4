"""Secrets at rest: every stored credential (OAuth refresh tokens, API tokens, webhook secrets) is
encrypted with Fernet under a key ring that lives outside the database.

The ring comes from ``FORCEBRIDGE_SECRET_KEY`` (comma-separated Fernet keys, newest first) or from
a key file (one key per line, newest first). Encryption always uses the newest key; decryption
tries each key (``MultiFernet``). Rotation, as the ``cryptography`` docs describe it: add a new key
in front (:func:`add_key_to_file`), re-encrypt every stored value (:meth:`SecretBox.rotate`),
then drop the old key.

Fernet has no associated data, so a ciphertext copied from one row into another would decrypt
fine; callers that pass ``context`` (e.g. ``"connection:42:refresh_token"``) bind the value to its
row, and decrypting it under another context fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from forcebridge.errors import ConfigurationError
from forcebridge.settings import Settings

_KEY_HINT = (
    "Set FORCEBRIDGE_SECRET_KEY to one or more Fernet keys (comma-separated, newest first) or "
    "FORCEBRIDGE_SECRET_KEY_FILE to a file with one key per line; create a key with "
    "`forcebridge keys generate`."
)
_ENVELOPE_VERSION = 1


class SecretBox:
    """Encrypts and decrypts secrets with a Fernet key ring (newest key first)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigurationError("No secret key is configured.", hint=_KEY_HINT)
        self._fernets = [_load_key(key, position) for position, key in enumerate(keys, start=1)]
        self._ring = MultiFernet(self._fernets)
        self._fingerprints = [_fingerprint(key) for key in keys]

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """Build the ring from ``secret_key`` (preferred) or ``secret_key_file``."""
        if settings.secret_key is not None:
            raw = settings.secret_key.get_secret_value()
            keys = [part.strip() for part in raw.split(",") if part.strip()]
            if not keys:
                raise ConfigurationError("FORCEBRIDGE_SECRET_KEY is empty.", hint=_KEY_HINT)
            return cls(keys)
        if settings.secret_key_file is not None:
            return cls(read_key_file(settings.secret_key_file))
        raise ConfigurationError("No secret key is configured.", hint=_KEY_HINT)

    @property
    def primary_key_fingerprint(self) -> str:
        """A short, non-secret id of the newest key (to show rotation progress)."""
        return self._fingerprints[0]

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt under the newest key; ``context`` must be given again to decrypt."""
        envelope = json.dumps({"v": _ENVELOPE_VERSION, "c": context, "d": plaintext})
        return self._ring.encrypt(envelope.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str, *, context: str = "") -> str:
        """Decrypt with whichever configured key wrote it, or raise ``ConfigurationError``."""
        envelope = self._open(ciphertext)
        try:
            document = json.loads(envelope)
            stored_context = document["c"]
            plaintext = document["d"]
        except (ValueError, KeyError, TypeError):
            raise _undecryptable() from None
        if stored_context != context or not isinstance(plaintext, str):
            raise ConfigurationError(
                "A stored secret belongs to another record and was refused.",
                hint="The value was copied between rows; re-enter the credential.",
            )
        return plaintext

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt ``ciphertext`` under the newest key (rotation step 2)."""
        try:
            return self._ring.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, TypeError, AttributeError):
            raise _undecryptable() from None

    def key_fingerprint_of(self, ciphertext: str) -> str:
        """Fingerprint of the key that wrote ``ciphertext`` (per-key counts show rotation)."""
        token = _as_bytes(ciphertext)
        for fernet, fingerprint in zip(self._fernets, self._fingerprints, strict=True):
            with contextlib.suppress(InvalidToken):
                fernet.decrypt(token)
                return fingerprint
        raise _undecryptable()

    def _open(self, ciphertext: str) -> str:
        try:
            return self._ring.decrypt(_as_bytes(ciphertext)).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise _undecryptable() from None


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 of 32 bytes)."""
    return Fernet.generate_key().decode("ascii")


def read_key_file(path: Path) -> list[str]:
    """Keys in ``path``, newest first; blank lines and ``#`` comments are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"The secret key file {path} does not exist.", hint=_KEY_HINT
        ) from None
    except (OSError, UnicodeError) as error:
        raise ConfigurationError(
            f"The secret key file {path} cannot be read ({type(error).__name__}).", hint=_KEY_HINT
        ) from None
    keys = [line.strip() for line in text.splitlines()]
    keys = [key for key in keys if key and not key.startswith("#")]
    if not keys:
        raise ConfigurationError(f"The secret key file {path} holds no key.", hint=_KEY_HINT)
    return keys


def write_key_file(path: Path, keys: list[str]) -> None:
    """Write ``keys`` (newest first) to ``path`` with mode 0600, replacing it atomically."""
    for position, key in enumerate(keys, start=1):
        _load_key(key, position)
    if not keys:
        raise ConfigurationError(
            "Refusing to write a secret key file without keys.", hint=_KEY_HINT
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # mkstemp creates the file with mode 0600 from the start: the key is never world-readable,
    # not even between create and chmod. os.replace makes the switch atomic.
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(keys) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary_name, 0o600)
        os.replace(temporary_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary_name)
        raise
    _fsync_directory(path.parent)


def ensure_key_file(path: Path) -> Path:
    """Create ``path`` with one fresh key unless it exists (the demo's zero-configuration start)."""
    if not path.exists():
        write_key_file(path, [generate_key()])
    return path


def add_key_to_file(path: Path) -> str:
    """Put a new key in front of the ones in ``path`` (rotation step 1) and return it."""
    existing = read_key_file(path) if path.exists() else []
    new_key = generate_key()
    write_key_file(path, [new_key, *existing])
    return new_key


def retire_old_keys(path: Path, keep: int = 1) -> int:
    """Keep only the ``keep`` newest keys in ``path`` (rotation step 3); return how many went."""
    if keep < 1:
        raise ConfigurationError("At least one secret key must remain.", hint=_KEY_HINT)
    keys = read_key_file(path)
    write_key_file(path, keys[:keep])
    return max(len(keys) - keep, 0)


def _load_key(key: str, position: int) -> Fernet:
    try:
        return Fernet(key.strip().encode("ascii"))
    except (ValueError, UnicodeError, TypeError, AttributeError):
        # Never echo the key: say which one is wrong by position only.
        raise ConfigurationError(
            f"Secret key #{position} is not a valid Fernet key (32 url-safe base64-encoded bytes).",
            hint=_KEY_HINT,
        ) from None


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.strip().encode("ascii")).hexdigest()[:12]


def _as_bytes(ciphertext: str) -> bytes:
    if not isinstance(ciphertext, str):
        raise _undecryptable()
    try:
        return ciphertext.encode("ascii")
    except UnicodeError:
        raise _undecryptable() from None


def _undecryptable() -> ConfigurationError:
    return ConfigurationError(
        "A stored secret cannot be decrypted with any configured key.",
        hint="The key that encrypted it may have been removed; put it back in "
        "FORCEBRIDGE_SECRET_KEY (after the newest key) and run the rotation, "
        "or re-enter the credential.",
    )


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable; not every platform can open a directory, which is fine there.
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
