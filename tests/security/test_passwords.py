"""Admin passwords: Argon2id hashes that verify, refuse, and report outdated parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from forcebridge.errors import ValidationFailed
from forcebridge.security.passwords import hash_password, needs_rehash, verify_password


def test_correct_password_verifies_against_its_hash() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_password(hashed, "correct horse battery staple")


def test_wrong_password_is_refused_without_raising() -> None:
    assert not verify_password(hash_password("one"), "two")


def test_same_password_hashes_differently_each_time() -> None:
    assert hash_password("same") != hash_password("same")


@pytest.mark.parametrize("damaged", ["", "not-a-hash", "$argon2id$v=19$m=1,t=1,p=1$x$y"])
def test_damaged_hash_verifies_nothing(damaged: str) -> None:
    assert not verify_password(damaged, "anything")


def test_empty_and_oversized_passwords_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        hash_password("")
    with pytest.raises(ValidationFailed):
        hash_password("x" * 1025)
    assert not verify_password(hash_password("x"), "x" * 5000)


def test_hash_with_weaker_parameters_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    assert verify_password(weak, "pw")
    assert needs_rehash(weak)
    assert not needs_rehash(hash_password("pw"))


def test_unreadable_hash_needs_rehash() -> None:
    assert needs_rehash("not-a-hash")
