"""Salesforce ids: 15→18 conversion, case restoration, validation and key-prefix checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcebridge.errors import InvalidInput, ValidationFailed
from forcebridge.salesforce.ids import KEY_PREFIXES, normalize_id, to_18

ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
ids15 = st.text(alphabet=ID_CHARACTERS, min_size=15, max_size=15)


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        # From Salesforce documentation and help articles (api-contracts §B.10).
        ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
        ("a00D0000008pQSN", "a00D0000008pQSNIA2"),
        ("00190000001pPvH", "00190000001pPvHAAU"),
        ("001R00000033I6A", "001R00000033I6AIAU"),
        ("0018a00001rBqb8", "0018a00001rBqb8AAC"),
        ("001D000000IqhSL", "001D000000IqhSLIAZ"),
    ],
)
def test_known_15_to_18_conversions(id15: str, id18: str) -> None:
    assert to_18(id15) == id18
    assert to_18(id18) == id18


def test_an_18_character_id_in_the_wrong_case_gets_its_case_back() -> None:
    assert to_18("001a0000006vm9riac") == "001A0000006Vm9rIAC"
    assert to_18("001A0000006VM9RIAC") == "001A0000006Vm9rIAC"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "001",
        "001A0000006Vm9",
        "001A0000006Vm9rI",
        "001A0000006Vm9r-AC",
        "001A0000006Vm9r!",
        "001A0000006Vm9rIACX",
        "001A0000006Vm9r\u00e9A",
        "001A0000006Vm9r'--",
    ],
)
def test_bad_length_or_characters_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        to_18(bad)


def test_a_suffix_that_contradicts_the_id_is_invalid_input() -> None:
    # "9" in the suffix says characters of the third chunk are upper case where digits are.
    with pytest.raises(InvalidInput):
        to_18("001A0000006Vm9rIA5")


def test_non_strings_are_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        to_18(1234)  # type: ignore[arg-type]


def test_normalize_checks_the_prefix_of_known_objects() -> None:
    assert normalize_id("500D000000Abcde", sobject="Case").startswith("500D000000Abcde")
    with pytest.raises(ValidationFailed, match="not a Case id"):
        normalize_id("003D000000Abcde", sobject="Case")


def test_normalize_prefers_the_prefix_from_describe() -> None:
    assert normalize_id("a0XD000000Abcde", sobject="Ticket__c", key_prefix="a0X") == to_18(
        "a0XD000000Abcde"
    )
    with pytest.raises(ValidationFailed):
        normalize_id("a0YD000000Abcde", key_prefix="a0X")


def test_prefixes_are_case_sensitive() -> None:
    assert KEY_PREFIXES["CaseComment"] == "00a"
    with pytest.raises(ValidationFailed):
        normalize_id("00AD000000Abcde", sobject="CaseComment")


def test_unknown_objects_are_not_prefix_checked() -> None:
    assert normalize_id("a0XD000000Abcde", sobject="Unknown__c") == to_18("a0XD000000Abcde")


@given(ids15)
def test_to_18_is_idempotent_on_its_output(id15: str) -> None:
    id18 = to_18(id15)
    assert len(id18) == 18 and id18[:15] == id15
    assert to_18(id18) == id18


@given(ids15)
def test_18_character_ids_are_case_insensitive(id15: str) -> None:
    id18 = to_18(id15)
    assert to_18(id18.lower()) == id18
    assert to_18(id18.upper()) == id18
