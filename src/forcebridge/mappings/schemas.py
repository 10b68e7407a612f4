"""Shapes of bindings, entity mappings and field mappings, as written and as shown.

The export document (:class:`MappingDocument`) is exactly what the import accepts, so a binding's
mappings can be copied between connections or kept in version control.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Direction = Literal["push", "pull", "both"]
UnmappedPolicy = Literal["copy", "set", "empty", "error"]
ConflictPolicy = Literal["newest", "salesforce", "jira"]

FieldName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_.]*$"
    ),
]
ObjectName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=80, pattern=r"^[A-Za-z][A-Za-z0-9_]*$"
    ),
]
ProjectIdOrKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=255,
        pattern=r"^(\d{1,18}|[A-Za-z][A-Za-z0-9_]*)$",
    ),
]
IssueTypeRef = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
MapValue = Annotated[str, StringConstraints(max_length=1000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BindingCreate(_Input):
    jira_project: ProjectIdOrKey = Field(description="Jira project id (10000) or key (TEST).")


class BindingView(BaseModel):
    id: str
    connection_id: str
    jira_project_id: str
    jira_project_key: str
    entity_mappings: int
    created_at: datetime


class ValueMap(_Input):
    """``push``: Jira value → Salesforce value; ``pull``: Salesforce value → Jira value."""

    push: dict[MapValue, MapValue] = Field(default_factory=dict, max_length=1000)
    pull: dict[MapValue, MapValue] = Field(default_factory=dict, max_length=1000)


class FieldMappingInput(_Input):
    jira_field: FieldName = Field(
        description="Jira field id: summary, priority, customfield_10010..."
    )
    salesforce_field: FieldName = Field(
        description="Salesforce field API name: Subject, Priority..."
    )
    direction: Direction = "both"
    value_map: ValueMap = Field(default_factory=ValueMap)
    unmapped_push: UnmappedPolicy = "copy"
    unmapped_push_value: MapValue | None = None
    unmapped_pull: UnmappedPolicy = "copy"
    unmapped_pull_value: MapValue | None = None
    conflict_policy: ConflictPolicy = "newest"

    @model_validator(mode="after")
    def _set_needs_a_value(self) -> Self:
        check_set_policies(
            self.unmapped_push,
            self.unmapped_push_value,
            self.unmapped_pull,
            self.unmapped_pull_value,
        )
        return self


class FieldMappingUpdate(_Input):
    direction: Direction | None = None
    value_map: ValueMap | None = None
    unmapped_push: UnmappedPolicy | None = None
    unmapped_push_value: MapValue | None = None
    unmapped_pull: UnmappedPolicy | None = None
    unmapped_pull_value: MapValue | None = None
    conflict_policy: ConflictPolicy | None = None
    position: Annotated[int, Field(ge=0, le=10_000)] | None = None


class FieldMappingView(BaseModel):
    id: str
    position: int
    jira_field: str
    salesforce_field: str
    direction: Direction
    value_map: ValueMap
    unmapped_push: UnmappedPolicy
    unmapped_push_value: str | None
    unmapped_pull: UnmappedPolicy
    unmapped_pull_value: str | None
    conflict_policy: ConflictPolicy


class EntityMappingCreate(_Input):
    jira_issue_type_id: IssueTypeRef | None = Field(
        default=None,
        description="Issue type id (or name); null maps every issue type of the project.",
    )
    salesforce_object: ObjectName
    fields: list[FieldMappingInput] | None = Field(
        default=None,
        max_length=500,
        description="Omitted: the defaults for Case, Opportunity and Account (none otherwise).",
    )


class EntityMappingView(BaseModel):
    id: str
    binding_id: str
    jira_issue_type_id: str | None
    salesforce_object: str
    fields: list[FieldMappingView]
    created_at: datetime


class ExportedEntityMapping(_Input):
    jira_issue_type_id: IssueTypeRef | None = None
    salesforce_object: ObjectName
    fields: list[FieldMappingInput] = Field(default_factory=list, max_length=500)


class ExportedProject(_Input):
    id: str | None = None
    key: str | None = None


class MappingDocument(_Input):
    """A binding's whole mapping; importing it replaces the binding's entity and field mappings."""

    version: Literal[1] = 1
    jira_project: ExportedProject | None = Field(
        default=None, description="Informational; ignored on import."
    )
    entity_mappings: list[ExportedEntityMapping] = Field(default_factory=list, max_length=200)


def check_set_policies(
    unmapped_push: str,
    unmapped_push_value: str | None,
    unmapped_pull: str,
    unmapped_pull_value: str | None,
) -> None:
    """Raise ``ValueError`` when a ``set`` policy has no value (used after partial updates too)."""
    if unmapped_push == "set" and unmapped_push_value is None:
        raise ValueError("unmapped_push 'set' needs unmapped_push_value")
    if unmapped_pull == "set" and unmapped_pull_value is None:
        raise ValueError("unmapped_pull 'set' needs unmapped_pull_value")
