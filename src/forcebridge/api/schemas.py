"""Request and response models of the external API, in SFJC's camelCase wire names.

Bodies are strict: unknown fields and wrong JSON types (``"viewOnly": "yes"``) are refused with 422
rather than coerced, so a typo in a client script fails loudly instead of silently using a default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from forcebridge.associations.service import MAX_ASSOCIATIONS_PER_ISSUE
from forcebridge.models import Association

# A Jira issue is named by its numeric id ("10005") or its key ("TEST-5"). Checked here so that
# nothing else ever reaches a Jira URL path (no "../", no query strings).
JIRA_ISSUE_PATTERN = r"^(?:[0-9]{1,18}|[A-Za-z][A-Za-z0-9_]{0,49}-[0-9]{1,18})$"
# Salesforce object API names: letters, digits and underscores (custom objects end in "__c").
SALESFORCE_OBJECT_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,99}$"
# 15-character (case-sensitive) or 18-character Salesforce record ids.
SALESFORCE_ID_PATTERN = r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$"

JiraIssueReference = Annotated[
    StrictStr,
    Field(
        pattern=JIRA_ISSUE_PATTERN,
        description="The Jira issue's numeric id or its key.",
        examples=["10005", "TEST-5"],
    ),
]
SalesforceObjectName = Annotated[
    StrictStr,
    Field(
        pattern=SALESFORCE_OBJECT_PATTERN,
        description="Salesforce object API name (SFJC's `son`).",
        examples=["Case"],
    ),
]
SalesforceRecordId = Annotated[
    StrictStr,
    Field(
        pattern=SALESFORCE_ID_PATTERN,
        description="Salesforce record id, 15 or 18 characters (SFJC's `soid`).",
        examples=["500J80000019IF9IAM"],
    ),
]
FlagValue = Annotated[StrictBool | None, Field(default=None)]

_STRICT = ConfigDict(extra="forbid")


class AssociationCreate(BaseModel):
    """Body of ``POST /external/api/association``: SFJC's single-association payload."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "jiraIssueId": "TEST-5",
                    "son": "Case",
                    "soid": "500J80000019IF9IAM",
                    "viewOnly": False,
                    "autoPush": False,
                    "autoPull": False,
                }
            ]
        },
    )

    # SFJC clients send the id as a string ("{{issue.id}}"); a bare JSON number is accepted too.
    jiraIssueId: JiraIssueReference | Annotated[StrictInt, Field(ge=0, le=10**18)]
    son: SalesforceObjectName
    soid: SalesforceRecordId
    viewOnly: FlagValue = Field(
        default=None, description="No manual or automatic sync; the connection's default if absent."
    )
    autoPush: FlagValue = Field(
        default=None,
        description="Push Jira changes automatically; the connection's default if absent.",
    )
    autoPull: FlagValue = Field(
        default=None,
        description="Pull Salesforce changes automatically; the connection's default if absent.",
    )


class BulkAssociationItem(BaseModel):
    """One record of a bulk request: the issue is given once, in the query string."""

    model_config = _STRICT

    son: SalesforceObjectName
    soid: SalesforceRecordId
    viewOnly: FlagValue = None
    autoPush: FlagValue = None
    autoPull: FlagValue = None


class BulkAssociationCreate(BaseModel):
    """Body of ``POST /external/api/associations``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "associations": [
                        {"son": "Case", "soid": "500J80000019IF9IAM", "autoPush": True},
                        {"son": "Account", "soid": "001J8000002bCdEIAU", "viewOnly": True},
                    ]
                }
            ]
        },
    )

    associations: list[BulkAssociationItem] = Field(
        description=f"At most {MAX_ASSOCIATIONS_PER_ISSUE} records; no duplicates.",
    )


class AssociationFlagsUpdate(BaseModel):
    """Body of ``PATCH /external/api/associations/{id}``: the flags to change (at least one)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"autoPush": True, "autoPull": False}]}
    )

    viewOnly: FlagValue = None
    autoPush: FlagValue = None
    autoPull: FlagValue = None


_ASSOCIATION_EXAMPLE: dict[str, Any] = {
    "jiraIssueId": "10004",
    "son": "Case",
    "soid": "500J80000019IF9IAM",
    "viewOnly": False,
    "autoPush": False,
    "autoPull": False,
    "id": "3f0c1d2e4b5a69788796a5b4c3d2e1f0",
    "jiraIssueKey": "TEST-5",
    "jiraProjectId": "10000",
    "createdAt": "2026-11-28T15:40:00+00:00",
    "updatedAt": "2026-11-28T15:40:00+00:00",
}


class AssociationOut(BaseModel):
    """An association as the API shows it: SFJC's fields first, then ForceBridge's extras."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ASSOCIATION_EXAMPLE]})

    jiraIssueId: str = Field(description="Numeric Jira issue id (stable when an issue moves).")
    son: str
    soid: str = Field(description="18-character Salesforce record id.")
    viewOnly: bool
    autoPush: bool
    autoPull: bool
    id: str = Field(description="ForceBridge's id of the association.")
    jiraIssueKey: str = Field(description="The issue's key when last seen.")
    jiraProjectId: str
    salesforceDeletedAt: datetime | None = Field(
        default=None,
        description="When the record was found deleted in Salesforce (automatic sync stops "
        "until it is restored); null while it exists.",
    )
    createdAt: datetime
    updatedAt: datetime


class AssociationEnvelope(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": _ASSOCIATION_EXAMPLE,
                    "message": "Association created successfully",
                    "success": True,
                }
            ]
        }
    )

    data: AssociationOut
    message: str = Field(examples=["Association created successfully"])
    success: bool = True


class BulkResult(BaseModel):
    totalAssociations: int = Field(description="Associations the issue has after this request.")
    created: int = Field(description="Associations this request added.")
    removed: int = Field(description="Earlier associations removed (replace=true).")
    jiraIssueId: str
    jiraIssueKey: str


class BulkEnvelope(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": {
                        "totalAssociations": 2,
                        "created": 2,
                        "removed": 0,
                        "jiraIssueId": "10004",
                        "jiraIssueKey": "TEST-5",
                    },
                    "message": "Associations created successfully",
                    "success": True,
                }
            ]
        }
    )

    data: BulkResult
    message: str = Field(examples=["Associations created successfully"])
    success: bool = True


class Paging(BaseModel):
    limit: int
    offset: int
    total: int
    nextOffset: int | None = Field(description="Offset of the next page; null on the last page.")


class AssociationListEnvelope(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": [_ASSOCIATION_EXAMPLE],
                    "message": "Associations fetched successfully",
                    "success": True,
                    "paging": {"limit": 100, "offset": 0, "total": 1, "nextOffset": None},
                }
            ]
        }
    )

    data: list[AssociationOut]
    message: str = Field(examples=["Associations fetched successfully"])
    success: bool = True
    paging: Paging


def association_to_wire(association: Association) -> dict[str, Any]:
    """The JSON form of a stored :class:`~forcebridge.models.Association`."""
    return {
        "jiraIssueId": association.jira_issue_id,
        "son": association.salesforce_object,
        "soid": association.salesforce_id,
        "viewOnly": association.view_only,
        "autoPush": association.auto_push,
        "autoPull": association.auto_pull,
        "id": association.id,
        "jiraIssueKey": association.jira_issue_key,
        "jiraProjectId": association.jira_project_id,
        "salesforceDeletedAt": (
            association.salesforce_deleted_at.isoformat()
            if association.salesforce_deleted_at is not None
            else None
        ),
        "createdAt": association.created_at.isoformat(),
        "updatedAt": association.updated_at.isoformat(),
    }
