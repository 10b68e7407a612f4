"""Admin passwords: Argon2id hashes (argon2-cffi's ``PasswordHasher`` defaults, RFC 9106 profile).

Only the hash is stored. Verification never raises on a wrong password or a damaged hash: it
answers False, so a login edge maps every failure to one response.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from forcebridge.errors import ValidationFailed

# Argon2 accepts any length, but hashing megabytes per login attempt is a cheap DoS.
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Argon2id hash of ``password`` (a new random salt each time)."""
    if not password:
        raise ValidationFailed("A password must not be empty.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(f"A password must be at most {MAX_PASSWORD_LENGTH} characters.")
    return _hasher.hash(password)


def verify_password(hash: str, password: str) -> bool:
    """True when ``password`` matches ``hash``; False for a mismatch or an unreadable hash."""
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hash: str) -> bool:
    """True when ``hash`` was made with weaker parameters than today's (re-hash after login)."""
    try:
        return _hasher.check_needs_rehash(hash)
    except (InvalidHashError, ValueError):
        return True
