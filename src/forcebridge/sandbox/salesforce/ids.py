"""Salesforce record ids as the emulator issues and accepts them.

A record id is 15 case-sensitive characters (3-character key prefix of the object type, then the
record's number in base 62) or the same 15 followed by a 3-character checksum that makes the id
case-insensitive. The API always answers with 18 characters and accepts both forms.
"""

from __future__ import annotations

import re

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
# The two characters after the key prefix are the pod / server id in a real org; any fixed value
# does, as long as every id the sandbox issues stays 15 characters long.
_POD = "Hn"
_NUMBER_WIDTH = 10  # characters left after the key prefix and the pod


def checksum_suffix(id15: str) -> str:
    """The 3 characters that make a 15-character id case-insensitive.

    Each 5-character chunk gives one character: bit j is set when the chunk's j-th character is an
    upper-case letter, and the 5-bit number indexes ``A..Z0..5``.
    """
    return "".join(
        _SUFFIX_ALPHABET[
            sum(
                1 << j
                for j, char in enumerate(id15[chunk * 5 : chunk * 5 + 5])
                if "A" <= char <= "Z"
            )
        ]
        for chunk in range(3)
    )


def to_18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character id (the suffix is recomputed)."""
    id15 = record_id[:15]
    return id15 + checksum_suffix(id15)


def looks_like_id(value: str) -> bool:
    """True for a syntactically valid 15-character id or 18-character id with a correct suffix.

    An 18-character id may arrive in any letter case (that is the point of the suffix), so the
    suffix is compared case-insensitively and the 15-character head is rebuilt from it.
    """
    if (
        not isinstance(value, str)
        or _ID_SHAPE.match(value.upper() if len(value) == 18 else value) is None
    ):
        return False
    if len(value) == 15:
        return True
    return canonical_id(value) is not None


def canonical_id(value: str) -> str | None:
    """The stored 18-character form of ``value``, or None when it is not an id.

    For an 18-character id the suffix tells which letters of the head are upper case, so an id
    whose letters were lower- or upper-cased by some tool still resolves to the original record.
    """
    if not isinstance(value, str):
        return None
    if len(value) == 15:
        return to_18(value) if _ID_SHAPE.match(value) else None
    if len(value) != 18 or _ID_SHAPE.match(value[:15] + value[15:].upper()) is None:
        return None
    suffix = value[15:].upper()
    head = []
    for chunk in range(3):
        bits = _SUFFIX_ALPHABET.index(suffix[chunk])
        for position, char in enumerate(value[chunk * 5 : chunk * 5 + 5]):
            if char.isalpha():
                head.append(char.upper() if bits & (1 << position) else char.lower())
            else:
                if bits & (1 << position):
                    return None  # the suffix claims an upper-case letter where there is a digit
                head.append(char)
    id15 = "".join(head)
    return id15 + suffix


def make_id(key_prefix: str, number: int) -> str:
    """The 18-character id of record ``number`` of the object with ``key_prefix``."""
    if len(key_prefix) != 3 or number < 0:
        raise ValueError("a key prefix has 3 characters and record numbers are non-negative")
    digits = []
    while True:
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
        if number == 0:
            break
    body = "".join(reversed(digits)).rjust(_NUMBER_WIDTH, "0")
    if len(body) > _NUMBER_WIDTH:
        raise ValueError("record number too large for a 15-character id")
    return to_18(key_prefix + _POD + body)
