"""Small builders for the vendors' JSON the mapping engine reads.

Shapes follow api-contracts.md: Jira ``GET /rest/api/3/field`` entries and REST v3 issues (§A.3,
§A.8), Salesforce describe field entries (§B.4).
"""

from __future__ import annotations

from typing import Any

from forcebridge.sync.mapping_engine import FieldRule

CUSTOM = "com.atlassian.jira.plugin.system.customfieldtypes:"

JIRA_FIELDS: list[dict[str, Any]] = [
    {"id": "summary", "name": "Summary", "custom": False,
     "schema": {"type": "string", "system": "summary"}},
    {"id": "description", "name": "Description", "custom": False,
     "schema": {"type": "string", "system": "description"}},
    {"id": "status", "name": "Status", "custom": False,
     "schema": {"type": "status", "system": "status"}},
    {"id": "priority", "name": "Priority", "custom": False,
     "schema": {"type": "priority", "system": "priority"}},
    {"id": "assignee", "name": "Assignee", "custom": False,
     "schema": {"type": "user", "system": "assignee"}},
    {"id": "labels", "name": "Labels", "custom": False,
     "schema": {"type": "array", "items": "string", "system": "labels"}},
    {"id": "duedate", "name": "Due date", "custom": False,
     "schema": {"type": "date", "system": "duedate"}},
    {"id": "created", "name": "Created", "custom": False,
     "schema": {"type": "datetime", "system": "created"}},
    {"id": "customfield_10010", "name": "Story Points", "custom": True,
     "schema": {"type": "number", "custom": CUSTOM + "float", "customId": 10010}},
    {"id": "customfield_10011", "name": "Customer Reference", "custom": True,
     "schema": {"type": "string", "custom": CUSTOM + "textfield", "customId": 10011}},
    {"id": "customfield_10012", "name": "Customer Notes", "custom": True,
     "schema": {"type": "string", "custom": CUSTOM + "textarea", "customId": 10012}},
    {"id": "customfield_10013", "name": "Severity", "custom": True,
     "schema": {"type": "option", "custom": CUSTOM + "select", "customId": 10013}},
    {"id": "customfield_10014", "name": "Affected Products", "custom": True,
     "schema": {"type": "array", "items": "option", "custom": CUSTOM + "multiselect",
                "customId": 10014}},
    {"id": "customfield_10015", "name": "Review Date", "custom": True,
     "schema": {"type": "date", "custom": CUSTOM + "datepicker", "customId": 10015}},
    {"id": "customfield_10016", "name": "Escalated At", "custom": True,
     "schema": {"type": "datetime", "custom": CUSTOM + "datetime", "customId": 10016}},
    {"id": "customfield_10017", "name": "Account Manager", "custom": True,
     "schema": {"type": "user", "custom": CUSTOM + "userpicker", "customId": 10017}},
    {"id": "customfield_10020", "name": "Sprint", "custom": True,
     "schema": {"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint",
                "customId": 10020}},
]  # fmt: skip


def sf_field(name: str, field_type: str, **overrides: Any) -> dict[str, Any]:
    """A describe ``fields[]`` entry with the keys the engine reads and their usual defaults."""
    entry: dict[str, Any] = {
        "name": name,
        "label": name,
        "type": field_type,
        "length": 255 if field_type in ("string", "picklist", "email", "url", "phone") else 0,
        "precision": 0,
        "scale": 0,
        "digits": 0,
        "nillable": field_type != "boolean",
        "updateable": True,
        "createable": True,
        "htmlFormatted": False,
        "extraTypeInfo": None,
        "restrictedPicklist": False,
        "picklistValues": [],
    }
    entry.update(overrides)
    return entry


def picklist(*values: str, inactive: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value}
        for value in values
    ] + [
        {"active": False, "defaultValue": False, "label": value, "validFor": None, "value": value}
        for value in inactive
    ]


CASE_FIELDS: list[dict[str, Any]] = [
    sf_field("Id", "id", length=18, nillable=False, updateable=False),
    sf_field("CaseNumber", "string", length=30, updateable=False, nillable=False),
    sf_field("Subject", "string", length=255),
    sf_field("Description", "textarea", length=32000),
    sf_field("Rich_Notes__c", "textarea", length=32768, htmlFormatted=True,
             extraTypeInfo="richtextarea"),
    sf_field("Status", "picklist", nillable=False,
             picklistValues=picklist("New", "Working", "Escalated", "Closed")),
    sf_field("Priority", "picklist", picklistValues=picklist("High", "Medium", "Low")),
    sf_field("Severity__c", "picklist", restrictedPicklist=True,
             picklistValues=picklist("Critical", "Major", "Minor", inactive=("Legacy",))),
    sf_field("Products__c", "multipicklist", length=4099, restrictedPicklist=True,
             picklistValues=picklist("Web", "Mobile", "API")),
    sf_field("Tags__c", "multipicklist", length=4099,
             picklistValues=picklist("urgent", "vip")),
    sf_field("Story_Points__c", "double", precision=5, scale=1),
    sf_field("Amount__c", "currency", precision=18, scale=2),
    sf_field("Seats__c", "int", digits=9),
    sf_field("Probability__c", "percent", precision=3, scale=0),
    sf_field("Is_Escalated__c", "boolean", nillable=False),
    sf_field("Due_Date__c", "date"),
    sf_field("Escalated_At__c", "datetime"),
    sf_field("Start_Time__c", "time"),
    sf_field("Owner_Email__c", "email", length=80),
    sf_field("Jira_Key__c", "string", length=20),
    sf_field("Short_Code__c", "string", length=5),
    sf_field("AccountId", "reference", length=18, referenceTo=["Account"]),
    sf_field("Formula_Total__c", "double", precision=18, scale=2, updateable=False,
             createable=False),
]  # fmt: skip


def case_describe(*extra_fields: dict[str, Any]) -> dict[str, Any]:
    return {"name": "Case", "label": "Case", "fields": [*CASE_FIELDS, *extra_fields]}


def adf(*paragraphs: str) -> dict[str, Any]:
    return {
        "version": 1,
        "type": "doc",
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": text}] if text else []}
            for text in paragraphs
        ],
    }


def jira_issue(**fields: Any) -> dict[str, Any]:
    """A REST v3 issue holding exactly ``fields`` (absent fields stay absent, as with ?fields=)."""
    return {
        "id": "10042",
        "key": "SUP-42",
        "self": "https://sandbox.atlassian.net/rest/api/3/issue/10042",
        "fields": fields,
    }


def case_record(**values: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Case"}, "Id": "500000000000001AAA", **values}


def rule(jira_field: str, salesforce_field: str, **options: Any) -> FieldRule:
    return FieldRule(jira_field=jira_field, salesforce_field=salesforce_field, **options)
