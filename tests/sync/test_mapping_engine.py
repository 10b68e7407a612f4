"""map_push / map_pull: what a sync writes, what it reports, and what it never empties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forcebridge.errors import ValidationFailed
from forcebridge.models import FieldMapping
from forcebridge.sync import conversion
from forcebridge.sync.mapping_engine import (
    FieldProblem,
    FieldRule,
    choose_transition,
    map_pull,
    map_push,
    resolve_conflict,
    value_fingerprint,
)

from .adf_schema import assert_valid_adf
from .builders import JIRA_FIELDS, adf, case_describe, case_record, jira_issue, rule

ALICE_ID = "712020:alice"
DIRECTORY = {ALICE_ID: "alice@example.com"}


def email_for_account(account_id: str) -> str | None:
    return DIRECTORY.get(account_id)


def account_for_email(email: str) -> str | None:
    return {email: account for account, email in DIRECTORY.items()}.get(email.lower())


def push(rules: list[FieldRule], **issue_fields: object):
    return map_push(
        rules, jira_issue(**issue_fields), JIRA_FIELDS, case_describe(),
        email_for_account=email_for_account,
    )  # fmt: skip


def pull(rules: list[FieldRule], **record_values: object):
    return map_pull(
        rules, case_record(**record_values), case_describe(), JIRA_FIELDS,
        account_for_email=account_for_email,
    )  # fmt: skip


def problem_fields(result) -> list[str]:
    return [problem.field for problem in result.problems]


# ---- push ---------------------------------------------------------------------------------


def test_push_converts_every_supported_type_for_salesforce() -> None:
    rules = [
        rule("summary", "Subject"),
        rule("description", "Description"),
        rule("customfield_10012", "Rich_Notes__c"),
        rule("priority", "Priority"),
        rule("customfield_10013", "Severity__c"),
        rule("customfield_10014", "Products__c"),
        rule("labels", "Tags__c"),
        rule("customfield_10010", "Story_Points__c"),
        rule("customfield_10015", "Due_Date__c"),
        rule("customfield_10016", "Escalated_At__c"),
        rule("assignee", "Owner_Email__c"),
        rule("key", "Jira_Key__c"),
    ]

    result = push(
        rules,
        summary="Printer on fire",
        description=adf("Smoke seen", "Call <facilities>"),
        customfield_10012=adf("Bold claims & more"),
        priority={"id": "2", "name": "High"},
        customfield_10013={"id": "10101", "value": "Major"},
        customfield_10014=[{"id": "10200", "value": "Web"}, {"id": "10202", "value": "API"}],
        labels=["urgent", "vip"],
        customfield_10010=2.25,
        customfield_10015="2026-02-28",
        customfield_10016="2026-01-17T12:34:00.000+0100",
        assignee={"accountId": ALICE_ID, "displayName": "Alice"},
    )

    assert result.problems == []
    assert result.values == {
        "Subject": "Printer on fire",
        "Description": "Smoke seen\n\nCall <facilities>",
        "Rich_Notes__c": "<p>Bold claims &amp; more</p>",
        "Priority": "High",
        "Severity__c": "Major",
        "Products__c": "Web;API",
        "Tags__c": "urgent;vip",
        "Story_Points__c": 2.3,
        "Due_Date__c": "2026-02-28",
        "Escalated_At__c": "2026-01-17T11:34:00.000+0000",
        "Owner_Email__c": "alice@example.com",
        "Jira_Key__c": "SUP-42",
    }
    assert result.transition_to_status is None


def test_push_ignores_rules_that_only_pull() -> None:
    result = push(
        [rule("summary", "Subject", direction="pull"), rule("labels", "Tags__c", direction="both")],
        summary="x",
        labels=["vip"],
    )

    assert result.values == {"Tags__c": "vip"}


def test_push_reports_a_read_only_salesforce_field_and_leaves_it_out() -> None:
    result = push([rule("customfield_10010", "Formula_Total__c")], customfield_10010=3)

    assert result.values == {}
    assert result.problems[0].field == "Formula_Total__c"
    assert "read-only" in result.problems[0].message
    assert (
        result.problems[0].hint == "Set the mapping's direction to pull, or map a writable field."
    )


def test_push_reports_unknown_fields_on_either_side_with_a_fix() -> None:
    result = push(
        [rule("summary", "No_Such__c"), rule("customfield_99999", "Subject")], summary="x"
    )

    assert result.values == {}
    assert [problem.message for problem in result.problems] == [
        "No_Such__c: Case has no field 'No_Such__c', or the integration user cannot see it",
        "Subject: Jira has no field 'customfield_99999', or the integration user cannot see it",
    ]
    assert all(problem.hint for problem in result.problems)


def test_push_of_a_field_absent_from_the_issue_is_a_problem_not_an_emptied_value() -> None:
    result = push([rule("customfield_10011", "Subject")], summary="not mapped")

    assert "Subject" not in result.values
    assert problem_fields(result) == ["Subject"]


def test_push_of_an_empty_jira_field_clears_the_salesforce_field() -> None:
    result = push([rule("customfield_10011", "Subject")], customfield_10011=None)

    assert result.values == {"Subject": None}


def test_push_of_a_wrong_type_reports_the_field_and_writes_the_others() -> None:
    result = push(
        [rule("customfield_10011", "Story_Points__c"), rule("summary", "Subject")],
        customfield_10011="about five",
        summary="still written",
    )

    assert result.values == {"Subject": "still written"}
    assert result.problems == [
        FieldProblem(
            field="Story_Points__c",
            value="about five",
            message="Story_Points__c: 'about five' is not a number",
            hint=None,
        )
    ]


def test_push_of_a_too_long_value_names_the_field_and_the_limit() -> None:
    result = push([rule("summary", "Short_Code__c")], summary="TOO-LONG")

    assert result.values == {}
    assert result.problems[0].message == (
        "Short_Code__c: the value is 8 characters long; Salesforce accepts at most 5"
    )


def test_push_into_a_reference_field_is_refused_with_a_problem() -> None:
    result = push([rule("customfield_10011", "AccountId")], customfield_10011="Acme")

    assert result.values == {}
    assert "reference fields are not synced" in result.problems[0].message


def test_push_of_a_user_without_a_known_email_is_a_problem() -> None:
    result = push(
        [rule("assignee", "Owner_Email__c")],
        assignee={"accountId": "712020:ghost", "displayName": "Ghost"},
    )

    assert result.values == {}
    assert result.problems[0].message == (
        "Owner_Email__c: no email address is known for the Jira user 'Ghost'"
    )


def test_push_uses_the_email_jira_returned_when_the_directory_has_none() -> None:
    result = push(
        [rule("assignee", "Owner_Email__c")],
        assignee={"accountId": "712020:bob", "emailAddress": "bob@example.com"},
    )

    assert result.values == {"Owner_Email__c": "bob@example.com"}


def test_push_reads_jira_system_timestamps_into_salesforce_datetimes() -> None:
    result = push([rule("created", "Escalated_At__c")], created="2026-01-17T12:34:56.789-0500")

    assert result.values == {"Escalated_At__c": "2026-01-17T17:34:56.789+0000"}


def test_push_of_rich_text_that_is_not_adf_is_a_problem_not_an_empty_value() -> None:
    result = push([rule("description", "Description")], description={"html": "<p>x</p>"})

    assert result.values == {}
    assert "expected rich text" in result.problems[0].message


def test_push_accepts_salesforce_field_names_in_any_case_and_jira_fields_by_name() -> None:
    result = push([rule("Story Points", "story_points__c")], customfield_10010=4)

    assert result.values == {"Story_Points__c": 4}


# ---- value maps and the unmapped-value policy ---------------------------------------------

SEVERITY_MAP = {
    "push": {"Critical": "Critical", "Major": "Major", "Minor": "Minor", "P1": "Critical"}
}


def severity_rule(**options: object) -> FieldRule:
    return rule("customfield_10013", "Severity__c", value_map=SEVERITY_MAP, **options)


def test_value_map_translates_the_value() -> None:
    result = push([severity_rule()], customfield_10013={"value": "P1"})

    assert result.values == {"Severity__c": "Critical"}


def test_value_map_lookup_ignores_case() -> None:
    result = push([severity_rule()], customfield_10013={"value": "p1"})

    assert result.values == {"Severity__c": "Critical"}


def test_unmapped_copy_passes_the_value_through_the_type_converter() -> None:
    result = push([rule("priority", "Priority", value_map={"push": {"Highest": "High"}})],
                  priority={"name": "Low"})  # fmt: skip

    assert result.values == {"Priority": "Low"}


def test_unmapped_copy_into_a_restricted_picklist_still_refuses_an_unknown_value() -> None:
    result = push([severity_rule(unmapped_push="copy")], customfield_10013={"value": "Trivial"})

    assert result.values == {}
    assert "'Trivial' is not an allowed value of this restricted picklist" in (
        result.problems[0].message
    )


def test_unmapped_set_uses_the_configured_value() -> None:
    result = push(
        [severity_rule(unmapped_push="set", unmapped_push_value="Minor")],
        customfield_10013={"value": "Trivial"},
    )

    assert result.values == {"Severity__c": "Minor"}


def test_unmapped_empty_clears_a_nillable_field() -> None:
    result = push([severity_rule(unmapped_push="empty")], customfield_10013={"value": "Trivial"})

    assert result.values == {"Severity__c": None}


def test_unmapped_empty_on_a_required_field_is_a_problem_and_nothing_is_written() -> None:
    status_rule = rule("status", "Status", value_map={"push": {"Done": "Closed"}},
                       unmapped_push="empty")  # fmt: skip

    result = push([status_rule], status={"name": "Backlog"})

    assert result.values == {}
    assert "Salesforce requires a value" in result.problems[0].message


def test_unmapped_error_names_the_field_and_the_value() -> None:
    result = push([severity_rule(unmapped_push="error")], customfield_10013={"value": "Trivial"})

    assert result.values == {}
    assert result.problems[0].message == (
        "Severity__c: value 'Trivial' has no mapping; add it to the value map or change the"
        " unmapped-value policy"
    )
    assert result.problems[0].value == {"value": "Trivial"}


def test_policies_apply_to_each_value_of_a_multi_value_field() -> None:
    products = {"push": {"Web": "Web", "Phone": "Mobile"}}
    base = {"value_map": products}
    values = [{"value": "Phone"}, {"value": "Desktop"}]

    def run(**options: object):
        return push([rule("customfield_10014", "Products__c", **base, **options)],
                    customfield_10014=values)  # fmt: skip

    assert run(unmapped_push="set", unmapped_push_value="Web").values == {
        "Products__c": "Mobile;Web"
    }
    assert run(unmapped_push="empty").values == {"Products__c": "Mobile"}
    assert "'Desktop' is not an allowed value" in run(unmapped_push="copy").problems[0].message
    assert (
        run(unmapped_push="error")
        .problems[0]
        .message.startswith("Products__c: value 'Desktop' has no mapping")
    )


def test_a_value_mapped_to_nothing_empties_the_target() -> None:
    result = push(
        [rule("priority", "Priority", value_map={"push": {"Lowest": ""}})],
        priority={"name": "Lowest"},
    )

    assert result.values == {"Priority": None}


def test_value_maps_are_per_direction() -> None:
    both_ways = rule(
        "priority", "Priority",
        value_map={"push": {"Highest": "High"}, "pull": {"High": "Highest"}},
    )  # fmt: skip

    assert push([both_ways], priority={"name": "Highest"}).values == {"Priority": "High"}
    assert pull([both_ways], Priority="High").values == {"priority": {"name": "Highest"}}


# ---- pull ---------------------------------------------------------------------------------


def test_pull_builds_a_jira_v3_edit_payload_for_every_supported_type() -> None:
    rules = [
        rule("summary", "Subject"),
        rule("description", "Description"),
        rule("customfield_10012", "Rich_Notes__c"),
        rule("priority", "Priority"),
        rule("customfield_10013", "Severity__c"),
        rule("customfield_10014", "Products__c"),
        rule("labels", "Tags__c"),
        rule("customfield_10010", "Story_Points__c"),
        rule("duedate", "Due_Date__c"),
        rule("customfield_10016", "Escalated_At__c"),
        rule("customfield_10011", "Is_Escalated__c"),
        rule("assignee", "Owner_Email__c"),
    ]

    result = pull(
        rules,
        Subject="Printer on fire",
        Description="Smoke seen\nby Bob",
        Rich_Notes__c="<p><b>Call</b> facilities</p>",
        Priority="High",
        Severity__c="Major",
        Products__c="Web;API",
        Tags__c="urgent;vip",
        Story_Points__c=3.0,
        Due_Date__c="2026-02-28",
        Escalated_At__c="2026-01-17T12:34:00.000+0000",
        Is_Escalated__c=True,
        Owner_Email__c="Alice@Example.com",
    )

    assert result.problems == []
    description = result.values.pop("description")
    rich_notes = result.values.pop("customfield_10012")
    assert result.values == {
        "summary": "Printer on fire",
        "priority": {"name": "High"},
        "customfield_10013": {"value": "Major"},
        "customfield_10014": [{"value": "Web"}, {"value": "API"}],
        "labels": ["urgent", "vip"],
        "customfield_10010": 3,
        "duedate": "2026-02-28",
        "customfield_10016": "2026-01-17T12:34:00.000+0000",
        "customfield_10011": "true",
        "assignee": {"accountId": ALICE_ID},
    }
    assert conversion.as_text(description) == "Smoke seen\nby Bob"
    assert rich_notes["content"][0]["content"][0] == {
        "type": "text", "text": "Call", "marks": [{"type": "strong"}]
    }  # fmt: skip
    assert_valid_adf(description)
    assert_valid_adf(rich_notes)


def test_pull_of_status_asks_for_a_transition_and_keeps_status_out_of_the_edit() -> None:
    status_rule = rule("status", "Status", value_map={"pull": {"Working": "In Progress"}})

    result = pull([status_rule], Status="Working")

    assert result.values == {}
    assert result.transition_to_status == "In Progress"


def test_pull_of_an_empty_status_asks_for_no_transition() -> None:
    result = pull([rule("status", "Status")], Status=None)

    assert result.transition_to_status is None
    assert result.problems == []


def test_pull_of_an_unmapped_status_with_the_error_policy_is_a_problem() -> None:
    status_rule = rule("status", "Status", value_map={"pull": {"Working": "In Progress"}},
                       unmapped_pull="error")  # fmt: skip

    result = pull([status_rule], Status="Escalated")

    assert result.transition_to_status is None
    assert result.problems[0].message.startswith("status: value 'Escalated' has no mapping")


def test_pull_into_a_read_only_jira_field_is_a_problem() -> None:
    result = pull([rule("created", "Escalated_At__c")], Escalated_At__c="2026-01-17T12:34:00Z")

    assert result.values == {}
    assert result.problems[0].message == "created: this Jira field cannot be written"


def test_pull_of_a_field_absent_from_the_record_is_a_problem_not_an_emptied_value() -> None:
    result = pull([rule("summary", "Subject")])

    assert result.values == {}
    assert "not queried" in result.problems[0].message


def test_pull_of_an_email_without_a_jira_user_is_a_problem() -> None:
    result = pull([rule("assignee", "Owner_Email__c")], Owner_Email__c="nobody@example.com")

    assert result.values == {}
    assert result.problems[0].message == (
        "assignee: no Jira user has the email address 'nobody@example.com'"
    )


def test_pull_of_an_empty_email_unassigns() -> None:
    assert pull([rule("assignee", "Owner_Email__c")], Owner_Email__c=None).values == {
        "assignee": None
    }


def test_pull_of_a_wrong_type_reports_the_field_and_writes_the_others() -> None:
    result = pull(
        [rule("customfield_10010", "Subject"), rule("summary", "Subject")], Subject="lots"
    )

    assert result.values == {"summary": "lots"}
    assert result.problems[0].field == "customfield_10010"
    assert result.problems[0].message == "customfield_10010: 'lots' is not a number"


def test_pull_of_an_empty_subject_into_summary_is_refused() -> None:
    result = pull([rule("summary", "Subject")], Subject=None)

    assert result.values == {}
    assert "requires a summary" in result.problems[0].message


def test_pull_reads_record_keys_in_any_case() -> None:
    record = {"subject": "lower-case key"}

    result = map_pull([rule("summary", "Subject")], record, case_describe(), JIRA_FIELDS)

    assert result.values == {"summary": "lower-case key"}


# ---- rules --------------------------------------------------------------------------------


def test_field_rule_is_built_from_a_mapping_row() -> None:
    row = FieldMapping(
        jira_field="priority", salesforce_field="Priority", direction="push",
        value_map={"push": {"Highest": "High"}, "pull": {}, "junk": 1},
        unmapped_push="set", unmapped_push_value="Medium", unmapped_pull="error",
        unmapped_pull_value=None, conflict_policy="salesforce",
    )  # fmt: skip

    assert FieldRule.from_model(row) == FieldRule(
        jira_field="priority",
        salesforce_field="Priority",
        direction="push",
        value_map={"push": {"Highest": "High"}, "pull": {}},
        unmapped_push="set",
        unmapped_push_value="Medium",
        unmapped_pull="error",
        unmapped_pull_value=None,
        conflict_policy="salesforce",
    )


def test_field_rule_defaults_fill_columns_a_new_row_has_not_set_yet() -> None:
    row = FieldMapping(jira_field="summary", salesforce_field="Subject")

    built = FieldRule.from_model(row)

    assert (built.direction, built.unmapped_push, built.conflict_policy) == (
        "both",
        "copy",
        "newest",
    )


@pytest.mark.parametrize(
    "options",
    [{"direction": "sideways"}, {"unmapped_push": "ignore"}, {"unmapped_pull": ""},
     {"conflict_policy": "oldest"}],
)  # fmt: skip
def test_field_rule_refuses_unknown_settings(options: dict) -> None:
    with pytest.raises(ValidationFailed):
        rule("summary", "Subject", **options)


# ---- fingerprints -------------------------------------------------------------------------


def test_fingerprint_ignores_dict_key_order() -> None:
    assert value_fingerprint({"a": 1, "b": [1, 2]}) == value_fingerprint({"b": [1, 2], "a": 1})


def test_fingerprint_treats_equal_numbers_as_equal() -> None:
    assert value_fingerprint(1) == value_fingerprint(1.0) == value_fingerprint(Decimal("1.00"))
    assert value_fingerprint(0.1) == value_fingerprint(Decimal("0.1"))


def test_fingerprint_of_a_converted_number_string_equals_the_number() -> None:
    field = {"name": "Points__c", "type": "double", "precision": 5, "scale": 1}
    from_string = conversion.write_salesforce_value(field, "1.0")

    assert value_fingerprint(from_string) == value_fingerprint(1.0)


def test_fingerprint_distinguishes_types_and_values() -> None:
    fingerprints = {
        value_fingerprint(value)
        for value in ["1", 1, True, None, "", [], {}, ["a", "b"], ["b", "a"], "true"]
    }

    assert len(fingerprints) == 10


def test_fingerprint_of_adf_ignores_node_splits_ids_and_key_order() -> None:
    whole = adf("Hello world")
    split = {
        "type": "doc",
        "content": [
            {
                "content": [{"text": "Hello ", "type": "text"}, {"type": "text", "text": "world"}],
                "type": "paragraph",
                "attrs": {"localId": "p-1"},
            }
        ],
        "version": 1,
    }

    assert value_fingerprint(whole) == value_fingerprint(split)


def test_fingerprint_of_adf_sees_formatting_changes() -> None:
    bold = {"version": 1, "type": "doc", "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "Hello world", "marks": [{"type": "strong"}]}]}]}  # fmt: skip

    assert value_fingerprint(bold) != value_fingerprint(adf("Hello world"))


def test_fingerprints_stay_the_same_across_releases_because_they_are_stored() -> None:
    # Golden values: changing the canonical form would make every stored fingerprint look like
    # a change and re-sync every field of every association once.
    assert value_fingerprint("x") == (
        "880cf3c7e08dd967d88e0f985a68fe4aa4b86b8c3db37fb3087401310ade2f43"
    )
    assert value_fingerprint({"b": [1, 2.0], "a": None}) == (
        "9295ffabf285a0c8943cf66cc0a19f48c21a0b98e5a451fd8dd58026a0a73574"
    )


# ---- conflicts and transitions ------------------------------------------------------------

NOON = datetime(2026, 1, 17, 12, 0, tzinfo=UTC)


def test_newest_change_wins_under_the_newest_policy() -> None:
    later = NOON + timedelta(seconds=1)

    assert (
        resolve_conflict("newest", jira_changed_at=NOON, salesforce_changed_at=later)
        == "salesforce"
    )
    assert resolve_conflict("newest", jira_changed_at=later, salesforce_changed_at=NOON) == "jira"


def test_newest_policy_gives_ties_and_unknown_times_to_jira() -> None:
    assert resolve_conflict("newest", jira_changed_at=NOON, salesforce_changed_at=NOON) == "jira"
    assert resolve_conflict("newest", jira_changed_at=None, salesforce_changed_at=None) == "jira"
    assert (
        resolve_conflict("newest", jira_changed_at=None, salesforce_changed_at=NOON) == "salesforce"
    )
    assert resolve_conflict("newest", jira_changed_at=NOON, salesforce_changed_at=None) == "jira"


def test_newest_policy_compares_naive_times_as_utc() -> None:
    naive_later = datetime(2026, 1, 17, 12, 0, 1)

    assert (
        resolve_conflict("newest", jira_changed_at=NOON, salesforce_changed_at=naive_later)
        == "salesforce"
    )


def test_fixed_policies_always_pick_their_side() -> None:
    later = NOON + timedelta(hours=1)

    assert (
        resolve_conflict("salesforce", jira_changed_at=later, salesforce_changed_at=NOON)
        == "salesforce"
    )
    assert resolve_conflict("jira", jira_changed_at=NOON, salesforce_changed_at=later) == "jira"


def test_unknown_conflict_policy_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        resolve_conflict("oldest", jira_changed_at=NOON, salesforce_changed_at=NOON)


TRANSITIONS = [
    {"id": "11", "name": "Start work", "to": {"id": "3", "name": "In Progress",
                                             "statusCategory": {"key": "indeterminate"}}},
    {"id": "21", "name": "Resolve", "to": {"id": "5", "name": "Done",
                                           "statusCategory": {"key": "done"}}},
    {"id": "31", "name": "Reopen", "isAvailable": False,
     "to": {"id": "1", "name": "Open", "statusCategory": {"key": "new"}}},
]  # fmt: skip


def test_choose_transition_matches_the_destination_status_case_insensitively() -> None:
    assert choose_transition(TRANSITIONS, "in progress") == TRANSITIONS[0]
    assert choose_transition(TRANSITIONS, " DONE ") == TRANSITIONS[1]


def test_choose_transition_matches_the_destination_not_the_transition_name() -> None:
    assert choose_transition(TRANSITIONS, "Resolve") is None


def test_choose_transition_returns_none_when_unreachable_or_unavailable() -> None:
    assert choose_transition(TRANSITIONS, "Closed") is None
    assert choose_transition(TRANSITIONS, "Open") is None
    assert choose_transition([], "Done") is None


# ---- robustness ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["value", "name", "accountId", "type", "content", "text",
                                       "version", "attrs", "marks"]), children, max_size=4),
    max_leaves=12,
)  # fmt: skip

EVERY_PAIR = [
    rule(jira["id"], salesforce["name"], value_map={"push": {"a": "b"}, "pull": {"a": "b"}})
    for jira in JIRA_FIELDS
    for salesforce in case_describe()["fields"]
][::7]


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from([entry["id"] for entry in JIRA_FIELDS]), json_values))
def test_push_of_any_json_gives_values_or_problems_never_an_exception(fields: dict) -> None:
    result = push(EVERY_PAIR, **fields)

    assert set(result.values) <= {entry["name"] for entry in case_describe()["fields"]}
    assert all(problem.message and problem.field for problem in result.problems)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from([entry["name"] for entry in case_describe()["fields"]]),
                       json_values))  # fmt: skip
def test_pull_of_any_json_gives_values_or_problems_never_an_exception(values: dict) -> None:
    result = pull(EVERY_PAIR, **values)

    assert set(result.values) <= {entry["id"] for entry in JIRA_FIELDS}
    assert all(problem.message and problem.field for problem in result.problems)
