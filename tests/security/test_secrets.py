"""Secrets at rest: round trips, key rotation, record binding, and key-file handling."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from forcebridge.errors import ConfigurationError
from forcebridge.security.secrets import (
    SecretBox,
    add_key_to_file,
    ensure_key_file,
    generate_key,
    read_key_file,
    retire_old_keys,
    write_key_file,
)
from forcebridge.settings import Settings

SENTINEL = "SENTINEL-sf-rt-7f3a0c"


def settings_with(**values: object) -> Settings:
    return Settings(data_dir=Path("/nonexistent-forcebridge"), **values)  # type: ignore[arg-type]


def test_encrypted_value_round_trips_and_hides_the_plaintext() -> None:
    box = SecretBox([generate_key()])
    ciphertext = box.encrypt(SENTINEL)
    assert SENTINEL not in ciphertext
    assert box.decrypt(ciphertext) == SENTINEL


@given(st.text(max_size=500))
def test_any_text_round_trips(plaintext: str) -> None:
    box = SecretBox(["3mP4uC7fYVqJ8sHjqkQ1kq0Z7oJ0x2JZcV0eUQm0G1k="])
    assert box.decrypt(box.encrypt(plaintext)) == plaintext


def test_each_encryption_differs_so_equal_secrets_are_not_linkable() -> None:
    box = SecretBox([generate_key()])
    assert box.encrypt(SENTINEL) != box.encrypt(SENTINEL)


def test_old_ciphertext_stays_readable_after_a_new_key_is_added() -> None:
    old_key, new_key = generate_key(), generate_key()
    stored = SecretBox([old_key]).encrypt(SENTINEL)
    assert SecretBox([new_key, old_key]).decrypt(stored) == SENTINEL


def test_rotate_re_encrypts_under_the_newest_key() -> None:
    old_key, new_key = generate_key(), generate_key()
    stored = SecretBox([old_key]).encrypt(SENTINEL)
    ring = SecretBox([new_key, old_key])
    rotated = ring.rotate(stored)
    assert ring.key_fingerprint_of(stored) != ring.primary_key_fingerprint
    assert ring.key_fingerprint_of(rotated) == ring.primary_key_fingerprint
    assert SecretBox([new_key]).decrypt(rotated) == SENTINEL


def test_after_dropping_the_old_key_only_rotated_values_decrypt() -> None:
    old_key, new_key = generate_key(), generate_key()
    first, second = SecretBox([old_key]).encrypt("first"), SecretBox([old_key]).encrypt("second")
    rotated_first = SecretBox([new_key, old_key]).rotate(first)
    only_new = SecretBox([new_key])
    assert only_new.decrypt(rotated_first) == "first"
    with pytest.raises(ConfigurationError, match="cannot be decrypted with any configured key"):
        only_new.decrypt(second)


def test_context_binds_a_ciphertext_to_its_record() -> None:
    box = SecretBox([generate_key()])
    stored = box.encrypt(SENTINEL, context="connection:a:refresh_token")
    assert box.decrypt(stored, context="connection:a:refresh_token") == SENTINEL
    with pytest.raises(ConfigurationError, match="belongs to another record"):
        box.decrypt(stored, context="connection:b:refresh_token")


def test_rotation_keeps_the_record_binding() -> None:
    old_key, new_key = generate_key(), generate_key()
    stored = SecretBox([old_key]).encrypt(SENTINEL, context="row:1")
    rotated = SecretBox([new_key, old_key]).rotate(stored)
    assert SecretBox([new_key]).decrypt(rotated, context="row:1") == SENTINEL


@pytest.mark.parametrize("garbage", ["", "not-a-token", "gAAAAA" + "A" * 80, "é", "x" * 10_000])
def test_garbage_ciphertext_is_a_configuration_error_not_a_crash(garbage: str) -> None:
    box = SecretBox([generate_key()])
    with pytest.raises(ConfigurationError):
        box.decrypt(garbage)
    with pytest.raises(ConfigurationError):
        box.rotate(garbage)


def test_flipped_byte_is_refused() -> None:
    box = SecretBox([generate_key()])
    stored = box.encrypt(SENTINEL)
    tampered = stored[:20] + ("A" if stored[20] != "A" else "B") + stored[21:]
    with pytest.raises(ConfigurationError):
        box.decrypt(tampered)


def test_foreign_fernet_token_without_our_envelope_is_refused() -> None:
    key = generate_key()
    raw = Fernet(key.encode()).encrypt(b"plain bytes, no envelope").decode()
    with pytest.raises(ConfigurationError):
        SecretBox([key]).decrypt(raw)


# --- keys from settings -----------------------------------------------------------------------


def test_keys_come_from_secret_key_newest_first() -> None:
    old_key, new_key = generate_key(), generate_key()
    stored = SecretBox([old_key]).encrypt(SENTINEL)
    box = SecretBox.from_settings(settings_with(secret_key=SecretStr(f"{new_key}, {old_key}")))
    assert box.decrypt(stored) == SENTINEL
    assert SecretBox([new_key]).decrypt(box.encrypt("x")) == "x"


def test_keys_come_from_the_key_file_when_no_secret_key_is_set(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    write_key_file(path, [generate_key()])
    box = SecretBox.from_settings(settings_with(secret_key_file=path))
    assert box.decrypt(box.encrypt(SENTINEL)) == SENTINEL


def test_missing_key_names_the_variable_and_the_generate_command() -> None:
    with pytest.raises(ConfigurationError) as raised:
        SecretBox.from_settings(settings_with())
    assert "FORCEBRIDGE_SECRET_KEY" in (raised.value.hint or "")
    assert "forcebridge keys generate" in (raised.value.hint or "")


# A real key cut short: fixed, so every pytest-xdist worker collects the same test ids.
TRUNCATED_KEY = "kKOda0X7NSNToJpeqnGhxMtrVh-j4zDWlYOBpmagoi"


@pytest.mark.parametrize("value", ["", " , ", "not-a-key", "c2hvcnQ=", TRUNCATED_KEY])
def test_malformed_secret_key_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        SecretBox.from_settings(settings_with(secret_key=SecretStr(value)))
    assert "FORCEBRIDGE_SECRET_KEY" in (raised.value.hint or "")
    if value.strip(" ,"):
        assert value not in raised.value.message


def test_second_key_malformed_is_named_by_position() -> None:
    with pytest.raises(ConfigurationError, match="#2"):
        SecretBox([generate_key(), "garbage"])


def test_missing_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        SecretBox.from_settings(settings_with(secret_key_file=tmp_path / "absent"))


def test_key_file_without_keys_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# only a comment\n\n")
    with pytest.raises(ConfigurationError, match="holds no key"):
        read_key_file(path)


# --- key files --------------------------------------------------------------------------------


def test_key_file_is_written_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "keys"
    write_key_file(path, [generate_key()])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_key_file_replacement_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    write_key_file(path, [generate_key()])
    write_key_file(path, [generate_key()])
    assert [entry.name for entry in tmp_path.iterdir()] == ["keys"]


def test_writing_a_malformed_key_leaves_the_existing_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    key = generate_key()
    write_key_file(path, [key])
    with pytest.raises(ConfigurationError):
        write_key_file(path, ["garbage"])
    assert read_key_file(path) == [key]


def test_ensure_key_file_creates_once_and_then_keeps_the_key(tmp_path: Path) -> None:
    path = ensure_key_file(tmp_path / "keys")
    first = read_key_file(path)
    ensure_key_file(path)
    assert read_key_file(path) == first
    assert len(first) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_full_rotation_through_the_key_file(tmp_path: Path) -> None:
    path = ensure_key_file(tmp_path / "keys")
    settings = settings_with(secret_key_file=path)
    stored = SecretBox.from_settings(settings).encrypt(SENTINEL)

    new_key = add_key_to_file(path)
    assert read_key_file(path)[0] == new_key
    ring = SecretBox.from_settings(settings)
    rotated = ring.rotate(stored)

    assert retire_old_keys(path) == 1
    after = SecretBox.from_settings(settings)
    assert after.decrypt(rotated) == SENTINEL
    with pytest.raises(ConfigurationError):
        after.decrypt(stored)
