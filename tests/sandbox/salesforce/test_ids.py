"""Record ids: Salesforce's checksum suffix, 15-character input and case-insensitive 18s."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcebridge.sandbox.salesforce.ids import canonical_id, looks_like_id, make_id, to_18

# Ids published in Salesforce's documentation with their 18-character forms.
DOCUMENTED_IDS = [
    "a00D0000008pQSNIA2",
    "00190000001pPvHAAU",
    "001R00000033I6AIAU",
    "0018a00001rBqb8AAC",
    "001D000000IqhSLIAZ",
]


@pytest.mark.parametrize("documented", DOCUMENTED_IDS)
def test_checksum_suffix_matches_salesforce_for_documented_ids(documented: str) -> None:
    assert to_18(documented[:15]) == documented


@pytest.mark.parametrize("documented", DOCUMENTED_IDS)
def test_an_18_character_id_resolves_whatever_its_letter_case(documented: str) -> None:
    assert canonical_id(documented.lower()) == documented
    assert canonical_id(documented.upper()) == documented


def test_a_15_character_id_is_case_sensitive_and_completed_to_18() -> None:
    assert canonical_id("001D000000IqhSL") == "001D000000IqhSLIAZ"
    assert canonical_id("001d000000iqhsl") != "001D000000IqhSLIAZ"


@pytest.mark.parametrize("bad", ["", "001", "001D000000IqhSLIA", "001D000000IqhSL!AZ", "x" * 19])
def test_malformed_ids_are_rejected(bad: str) -> None:
    assert canonical_id(bad) is None
    assert not looks_like_id(bad)


@given(st.integers(min_value=0, max_value=62**10 - 1))
def test_issued_ids_keep_their_key_prefix_and_round_trip(number: int) -> None:
    issued = make_id("500", number)
    assert len(issued) == 18
    assert issued.startswith("500")
    assert canonical_id(issued[:15]) == issued
    assert canonical_id(issued.lower()) == issued
