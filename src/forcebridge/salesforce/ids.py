"""Salesforce record ids: 15/18-character forms, and the key prefix that names the object.

A 15-character id is case-sensitive. The 18-character form appends three characters that encode,
five characters at a time, which of the first fifteen are upper-case letters, which makes it safe
to compare case-insensitively (api-contracts §B.10; "What are Salesforce IDs composed of?",
https://help.salesforce.com/s/articleView?id=000385008). ForceBridge stores the 18-character form.

The first three characters are the object's key prefix (``001`` Account, ``500`` Case...). Custom
objects get org-specific prefixes, so those come from ``describe`` (``keyPrefix``), not this table.
"""

from __future__ import annotations

import re

from forcebridge.errors import InvalidInput, ValidationFailed

# Standard objects whose prefix is the same in every org (api-contracts §B.10).
KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Note": "002",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Organization": "00D",
    "Attachment": "00P",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "CaseComment": "00a",
    "Case": "500",
    "Campaign": "701",
}

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_CHARACTERS = re.compile(r"^[A-Za-z0-9]+$")


def to_18(record_id: str) -> str:
    """The canonical 18-character form of a 15- or 18-character id.

    An 18-character id may arrive in any letter case (it is case-insensitive): the case of its first
    fifteen characters is restored from the suffix, and a suffix that contradicts them is rejected.
    Raises ``InvalidInput`` for anything that is not an id.
    """
    if not isinstance(record_id, str) or not _ID_CHARACTERS.match(record_id):
        raise InvalidInput(f"{record_id!r} is not a Salesforce id: only letters and digits allowed")
    if len(record_id) == 15:
        return record_id + _suffix(record_id)
    if len(record_id) != 18:
        raise InvalidInput(
            f"{record_id!r} is not a Salesforce id: "
            f"it has {len(record_id)} characters, not 15 or 18"
        )
    restored = _restore_case(record_id[:15], record_id[15:].upper(), record_id)
    return restored + _suffix(restored)


def normalize_id(
    record_id: str, *, sobject: str | None = None, key_prefix: str | None = None
) -> str:
    """The 18-character id, checked against the object's key prefix when it is known.

    ``key_prefix`` (from describe) wins over the built-in table looked up by ``sobject``. A mismatch
    (a Contact id given for a Case) raises ``ValidationFailed``.
    """
    canonical = to_18(record_id)
    expected = key_prefix if key_prefix is not None else KEY_PREFIXES.get(sobject or "")
    # Key prefixes are case-sensitive ("00a" CaseComment is not "00A").
    if expected and canonical[:3] != expected:
        label = sobject or f"prefix {expected}"
        raise ValidationFailed(
            f"{record_id} is not a {label} id: it starts with {canonical[:3]}, "
            f"{label} ids start with {expected}",
            hint="Check that the id was copied from a record of the right object.",
        )
    return canonical


def _suffix(id15: str) -> str:
    characters = []
    for chunk_start in range(0, 15, 5):
        bits = 0
        for position, character in enumerate(id15[chunk_start : chunk_start + 5]):
            if "A" <= character <= "Z":
                bits |= 1 << position
        characters.append(_SUFFIX_ALPHABET[bits])
    return "".join(characters)


def _restore_case(id15: str, suffix: str, original: str) -> str:
    restored: list[str] = []
    for chunk, suffix_character in enumerate(suffix):
        bits = _SUFFIX_ALPHABET.find(suffix_character)
        if bits < 0:
            raise InvalidInput(f"{original!r} is not a Salesforce id: bad checksum suffix")
        for position, character in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            upper = bool(bits & (1 << position))
            if character.isdigit():
                if upper:
                    raise InvalidInput(
                        f"{original!r} is not a Salesforce id: the suffix does not match"
                    )
                restored.append(character)
            else:
                restored.append(character.upper() if upper else character.lower())
    return "".join(restored)
