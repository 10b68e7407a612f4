"""The per-type converters: each value type read from one vendor and written for the other."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from forcebridge.sync import conversion
from forcebridge.sync.conversion import ConversionFailed

from .adf_schema import assert_valid_adf
from .builders import JIRA_FIELDS, adf, picklist, sf_field

JIRA_KIND_BY_FIELD = {entry["id"]: conversion.jira_field_kind(entry) for entry in JIRA_FIELDS}


def test_jira_field_kinds_follow_the_field_schema() -> None:
    assert JIRA_KIND_BY_FIELD == {
        "summary": "text",
        "description": "rich_text",
        "status": "status",
        "priority": "priority",
        "assignee": "user",
        "labels": "labels",
        "duedate": "date",
        "created": "read_only",
        "customfield_10010": "number",
        "customfield_10011": "text",
        "customfield_10012": "rich_text",
        "customfield_10013": "select",
        "customfield_10014": "multiselect",
        "customfield_10015": "date",
        "customfield_10016": "datetime",
        "customfield_10017": "user",
        "customfield_10020": "unsupported",
    }


# ---- text ---------------------------------------------------------------------------------


def test_text_too_long_for_salesforce_is_refused_with_the_limit_never_truncated() -> None:
    field = sf_field("Short_Code__c", "string", length=5)

    with pytest.raises(ConversionFailed) as failure:
        conversion.write_salesforce_value(field, "ABCDEF")

    assert failure.value.message == (
        "Short_Code__c: the value is 6 characters long; Salesforce accepts at most 5"
    )
    assert "never truncates" in (failure.value.hint or "")


def test_text_too_long_for_a_jira_single_line_field_is_refused() -> None:
    with pytest.raises(ConversionFailed, match="at most 255"):
        conversion.write_jira_value("text", "x" * 256, field_name="customfield_10011")


def test_text_too_long_for_a_jira_multi_line_field_is_refused() -> None:
    with pytest.raises(ConversionFailed, match="the value is 32768 characters long; Jira"):
        conversion.write_jira_value("rich_text", "x" * 32768, field_name="description")


def test_multi_line_text_is_folded_onto_one_line_for_jira_single_line_fields() -> None:
    assert conversion.write_jira_value("text", "line one\nline two", field_name="summary") == (
        "line one line two"
    )


def test_rich_text_from_jira_becomes_plain_text_in_a_salesforce_textarea() -> None:
    value = conversion.read_jira_value("rich_text", adf("First", "Second"))

    written = conversion.write_salesforce_value(
        sf_field("Description", "textarea", length=100), value
    )

    assert written == "First\n\nSecond"


def test_rich_text_from_jira_becomes_html_in_a_salesforce_rich_text_area() -> None:
    field = sf_field("Rich__c", "textarea", length=1000, htmlFormatted=True)

    written = conversion.write_salesforce_value(field, adf("a < b"))

    assert written == "<p>a &lt; b</p>"


def test_salesforce_rich_text_becomes_adf_for_jira() -> None:
    field = sf_field("Rich__c", "textarea", length=1000, htmlFormatted=True)

    neutral = conversion.read_salesforce_value(field, "<p><b>Hi</b></p>")
    written = conversion.write_jira_value("rich_text", neutral, field_name="description")

    assert written["content"][0]["content"] == [
        {"type": "text", "text": "Hi", "marks": [{"type": "strong"}]}
    ]
    assert_valid_adf(written)


def test_salesforce_plain_text_becomes_adf_paragraphs_for_jira() -> None:
    written = conversion.write_jira_value(
        "rich_text", "one\ntwo\n\nthree", field_name="description"
    )

    assert conversion.as_text(written) == "one\ntwo\n\nthree"
    assert_valid_adf(written)


def test_salesforce_email_field_refuses_a_value_that_is_not_an_email() -> None:
    with pytest.raises(ConversionFailed, match="not an email address"):
        conversion.write_salesforce_value(sf_field("Owner_Email__c", "email"), "alice")


# ---- numbers ------------------------------------------------------------------------------


def test_double_is_rounded_half_up_to_the_describe_scale_like_salesforce() -> None:
    field = sf_field("Points__c", "double", precision=5, scale=1)

    assert conversion.write_salesforce_value(field, Decimal("2.25")) == 2.3
    assert conversion.write_salesforce_value(field, "3.0") == 3
    assert conversion.write_salesforce_value(field, 0.1) == 0.1


def test_number_beyond_the_describe_precision_is_refused() -> None:
    field = sf_field("Points__c", "double", precision=5, scale=1)

    with pytest.raises(ConversionFailed, match="too large"):
        conversion.write_salesforce_value(field, 10000)


def test_int_field_refuses_fractions_and_too_many_digits() -> None:
    field = sf_field("Seats__c", "int", digits=3)

    assert conversion.write_salesforce_value(field, Decimal("12.0")) == 12
    with pytest.raises(ConversionFailed, match="not a whole number"):
        conversion.write_salesforce_value(field, Decimal("1.5"))
    with pytest.raises(ConversionFailed, match="more than 3 digits"):
        conversion.write_salesforce_value(field, 1000)


def test_currency_and_percent_keep_their_scale() -> None:
    currency = sf_field("Amount__c", "currency", precision=18, scale=2)
    percent = sf_field("Probability__c", "percent", precision=3, scale=0)

    assert conversion.write_salesforce_value(currency, "1234.567") == 1234.57
    assert conversion.write_salesforce_value(percent, 42.4) == 42


def test_salesforce_number_reaches_jira_as_a_json_number() -> None:
    field = sf_field("Amount__c", "currency", precision=18, scale=2)

    neutral = conversion.read_salesforce_value(field, 12.5)

    assert conversion.write_jira_value("number", neutral, field_name="customfield_10010") == 12.5
    assert conversion.write_jira_value("number", Decimal("3.00"), field_name="x") == 3


@pytest.mark.parametrize("value", ["12 apples", "1,5", True, [1], float("nan")])
def test_values_that_are_not_numbers_are_refused(value: object) -> None:
    with pytest.raises(ConversionFailed):
        conversion.write_salesforce_value(sf_field("Amount__c", "currency", precision=18), value)


# ---- booleans -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("Yes", True), ("1", True), (Decimal(1), True), ("false", False),
     ("no", False), (False, False)],
)  # fmt: skip
def test_checkbox_accepts_yes_no_words_and_numbers(value: object, expected: bool) -> None:
    assert conversion.write_salesforce_value(sf_field("Flag__c", "boolean"), value) is expected


def test_checkbox_refuses_other_words() -> None:
    with pytest.raises(ConversionFailed, match="not a yes/no value"):
        conversion.write_salesforce_value(sf_field("Flag__c", "boolean"), "maybe")


def test_empty_value_unchecks_a_checkbox_because_salesforce_checkboxes_are_never_null() -> None:
    assert conversion.write_salesforce_value(sf_field("Flag__c", "boolean"), None) is False


def test_salesforce_checkbox_reaches_a_jira_text_field_as_true_or_false() -> None:
    neutral = conversion.read_salesforce_value(sf_field("Flag__c", "boolean"), True)

    assert conversion.write_jira_value("text", neutral, field_name="customfield_10011") == "true"


# ---- dates and times ----------------------------------------------------------------------


def test_jira_datetime_with_offset_reaches_salesforce_in_utc() -> None:
    neutral = conversion.read_jira_value("datetime", "2026-01-17T12:34:00.000+0200")

    written = conversion.write_salesforce_value(sf_field("At__c", "datetime"), neutral)

    assert written == "2026-01-17T10:34:00.000+0000"


def test_salesforce_datetime_in_z_form_reaches_jira_in_jira_form() -> None:
    neutral = conversion.read_salesforce_value(
        sf_field("At__c", "datetime"), "2026-01-17T12:34:56.789Z"
    )

    assert conversion.write_jira_value("datetime", neutral, field_name="customfield_10016") == (
        "2026-01-17T12:34:56.789+0000"
    )


def test_dates_cross_unchanged_and_a_datetime_into_a_date_takes_its_utc_day() -> None:
    date_field = sf_field("Due__c", "date")

    assert (
        conversion.write_salesforce_value(
            date_field, conversion.read_jira_value("date", "2026-02-28")
        )
        == "2026-02-28"
    )
    assert conversion.write_jira_value("date", "2026-02-28", field_name="duedate") == "2026-02-28"
    late_evening_in_new_york = datetime(2026, 3, 1, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert conversion.write_salesforce_value(date_field, late_evening_in_new_york) == "2026-03-02"


def test_a_date_into_a_datetime_means_midnight_utc() -> None:
    assert conversion.write_salesforce_value(sf_field("At__c", "datetime"), date(2026, 5, 1)) == (
        "2026-05-01T00:00:00.000+0000"
    )


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "17/01/2026", "2026-01-17T25:00:00Z"])
def test_values_that_are_not_dates_are_refused(value: str) -> None:
    with pytest.raises(ConversionFailed):
        conversion.write_salesforce_value(sf_field("Due__c", "date"), value)
    with pytest.raises(ConversionFailed):
        conversion.write_jira_value("datetime", value, field_name="customfield_10016")


def test_salesforce_time_fields_take_a_time_of_day() -> None:
    field = sf_field("Start__c", "time")

    assert conversion.write_salesforce_value(field, "9:05") == "09:05:00.000Z"
    with pytest.raises(ConversionFailed):
        conversion.write_salesforce_value(field, "25:00")


def test_datetimes_are_read_as_aware_utc() -> None:
    assert conversion.as_datetime("2026-01-17T12:34:00") == datetime(
        2026, 1, 17, 12, 34, tzinfo=UTC
    )


# ---- picklists, selects, labels -------------------------------------------------------------


def test_restricted_picklist_refuses_a_value_it_does_not_allow() -> None:
    allowed = picklist("Critical", "Major", inactive=("Legacy",))
    field = sf_field("Severity__c", "picklist", restrictedPicklist=True, picklistValues=allowed)

    with pytest.raises(ConversionFailed) as failure:
        conversion.write_salesforce_value(field, "Legacy")

    assert "'Legacy' is not an allowed value" in failure.value.message
    assert "Critical, Major" in failure.value.message


def test_picklist_value_in_another_case_is_sent_in_the_orgs_spelling() -> None:
    field = sf_field("Priority", "picklist", picklistValues=picklist("High", "Low"))

    assert conversion.write_salesforce_value(field, "high") == "High"


def test_unrestricted_picklist_accepts_a_new_value() -> None:
    field = sf_field("Priority", "picklist", picklistValues=picklist("High", "Low"))

    assert conversion.write_salesforce_value(field, "Blocker") == "Blocker"


def test_jira_select_reaches_a_picklist_and_a_picklist_reaches_a_select() -> None:
    field = sf_field("Severity__c", "picklist", picklistValues=picklist("Major"))

    neutral = conversion.read_jira_value("select", {"self": "x", "value": "Major", "id": "10101"})
    assert conversion.write_salesforce_value(field, neutral) == "Major"
    assert conversion.write_jira_value("select", "Major", field_name="customfield_10013") == {
        "value": "Major"
    }


def test_priority_and_status_are_read_by_name_and_priority_written_by_name() -> None:
    assert conversion.read_jira_value("priority", {"id": "2", "name": "High"}) == "High"
    assert conversion.read_jira_value("status", {"id": "3", "name": "In Progress"}) == "In Progress"
    assert conversion.write_jira_value("priority", "High", field_name="priority") == {
        "name": "High"
    }


def test_multipicklist_joins_with_semicolons_and_splits_back_into_a_multiselect() -> None:
    products = sf_field("Products__c", "multipicklist", length=4099,
                        picklistValues=picklist("Web", "Mobile", "API"))  # fmt: skip
    jira_value = [{"value": "Web"}, {"value": "API"}]

    written = conversion.write_salesforce_value(
        products, conversion.read_jira_value("multiselect", jira_value)
    )
    pulled = conversion.read_salesforce_value(products, written)

    assert written == "Web;API"
    assert (
        conversion.write_jira_value("multiselect", pulled, field_name="customfield_10014")
        == jira_value
    )


def test_labels_go_to_a_multipicklist_and_back() -> None:
    tags = sf_field("Tags__c", "multipicklist", length=4099)

    written = conversion.write_salesforce_value(
        tags, conversion.read_jira_value("labels", ["urgent", "vip"])
    )

    assert written == "urgent;vip"
    assert conversion.write_jira_value(
        "labels", conversion.read_salesforce_value(tags, written), field_name="labels"
    ) == ["urgent", "vip"]


def test_labels_refuse_values_with_spaces_instead_of_mangling_them() -> None:
    with pytest.raises(ConversionFailed, match="cannot contain spaces: 'needs review'"):
        conversion.write_jira_value("labels", ["ok", "needs review"], field_name="labels")


def test_restricted_multipicklist_refuses_any_value_it_does_not_allow() -> None:
    products = sf_field("Products__c", "multipicklist", restrictedPicklist=True,
                        picklistValues=picklist("Web"))  # fmt: skip

    with pytest.raises(ConversionFailed, match="'Desktop' is not an allowed value"):
        conversion.write_salesforce_value(products, ["Web", "Desktop"])


def test_an_empty_multiselect_clears_the_multipicklist_and_back() -> None:
    products = sf_field("Products__c", "multipicklist", length=4099)

    assert (
        conversion.write_salesforce_value(products, conversion.read_jira_value("multiselect", None))
        is None
    )
    assert (
        conversion.write_jira_value(
            "multiselect",
            conversion.read_salesforce_value(products, None),
            field_name="customfield_10014",
        )
        == []
    )


# ---- empties, references, unsupported types -----------------------------------------------


def test_empty_value_into_a_required_salesforce_field_is_refused() -> None:
    with pytest.raises(ConversionFailed, match="Salesforce requires a value"):
        conversion.write_salesforce_value(sf_field("Status", "picklist", nillable=False), None)


def test_empty_value_clears_a_nillable_salesforce_field() -> None:
    assert conversion.write_salesforce_value(sf_field("Subject", "string"), None) is None


def test_empty_summary_is_refused_because_jira_requires_one() -> None:
    with pytest.raises(ConversionFailed, match="requires a summary"):
        conversion.write_jira_value("text", None, field_name="summary")


def test_reference_fields_are_not_synced_either_way() -> None:
    reference = sf_field("AccountId", "reference", referenceTo=["Account"])

    with pytest.raises(ConversionFailed, match="reference fields are not synced"):
        conversion.write_salesforce_value(reference, "001000000000001AAA")
    with pytest.raises(ConversionFailed, match="reference fields are not synced"):
        conversion.read_salesforce_value(reference, "001000000000001AAA")


def test_number_formatting_has_no_trailing_zeros_or_exponents() -> None:
    assert conversion.format_number(Decimal("1.50")) == "1.5"
    assert conversion.format_number(Decimal("1.2E+3")) == "1200"
    assert conversion.format_number(Decimal("-0.000")) == "0"
