"""Bindings (Jira project ↔ connection), entity mappings (issue type ↔ object) and field mappings.

Everything written here is checked against the vendors first, so a mapping that the sync engine
reads later names things that exist: a binding's project is resolved through Jira (id or key in,
both stored), an entity mapping's object through Salesforce ``describe`` (stored with its canonical
API name) and its issue type through the project; field names through Jira's field list and the
object's describe. Names are compared case-insensitively, as both vendors do, and stored in the
vendor's own spelling.

Lookups the sync engine and the external API use (``binding_for_project``, ``entity_mapping_for``,
``mapped_objects``) read the database only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forcebridge.connections.clients import ConnectionClients, clients_for
from forcebridge.connections.service import get_connection
from forcebridge.container import Container
from forcebridge.errors import Conflict, ExternalServiceError, NotFound, ValidationFailed
from forcebridge.mappings.defaults import default_field_mappings
from forcebridge.mappings.schemas import (
    BindingCreate,
    BindingView,
    EntityMappingCreate,
    EntityMappingView,
    ExportedEntityMapping,
    ExportedProject,
    FieldMappingInput,
    FieldMappingUpdate,
    FieldMappingView,
    MappingDocument,
    ValueMap,
    check_set_policies,
)
from forcebridge.models import Connection, EntityMapping, FieldMapping, ProjectBinding

# -- lookups for the sync engine and the external API ------------------------------------------


def binding_for_project(
    session: Session, connection_id: str, jira_project_id: str
) -> ProjectBinding | None:
    return session.scalar(
        select(ProjectBinding).where(
            ProjectBinding.connection_id == connection_id,
            ProjectBinding.jira_project_id == jira_project_id,
        )
    )


def entity_mapping_for(
    session: Session,
    connection_id: str,
    jira_project_id: str,
    jira_issue_type_id: str | None,
    salesforce_object: str,
) -> EntityMapping | None:
    """The mapping for this issue type and object: the type's own, else the project-wide one."""
    binding = binding_for_project(session, connection_id, jira_project_id)
    if binding is None:
        return None
    candidates = session.scalars(
        select(EntityMapping).where(
            EntityMapping.binding_id == binding.id,
            func.lower(EntityMapping.salesforce_object) == salesforce_object.lower(),
        )
    ).all()
    specific = [
        m
        for m in candidates
        if jira_issue_type_id is not None and m.jira_issue_type_id == jira_issue_type_id
    ]
    if specific:
        return specific[0]
    general = [m for m in candidates if m.jira_issue_type_id is None]
    return general[0] if general else None


def mapped_objects(session: Session, connection_id: str) -> set[str]:
    """Salesforce objects mapped in any binding of the connection (canonical API names)."""
    rows = session.scalars(
        select(EntityMapping.salesforce_object)
        .join(ProjectBinding, EntityMapping.binding_id == ProjectBinding.id)
        .where(ProjectBinding.connection_id == connection_id)
    )
    return set(rows)


# -- bindings ----------------------------------------------------------------------------------


def list_bindings(session: Session, connection_id: str) -> list[ProjectBinding]:
    get_connection(session, connection_id)
    return list(
        session.scalars(
            select(ProjectBinding)
            .where(ProjectBinding.connection_id == connection_id)
            .order_by(ProjectBinding.jira_project_key, ProjectBinding.id)
        )
    )


def get_binding(session: Session, connection_id: str, binding_id: str) -> ProjectBinding:
    get_connection(session, connection_id)
    binding = session.get(ProjectBinding, binding_id) if binding_id else None
    if binding is None or binding.connection_id != connection_id:
        raise NotFound(f"Binding {binding_id!r} does not exist in this connection.")
    return binding


def create_binding(
    container: Container, connection_id: str, request: BindingCreate
) -> ProjectBinding:
    """Bind a Jira project (by id or key, resolved through Jira) to the connection."""
    connection = _load_connection(container, connection_id)
    with clients_for(container, connection) as clients:
        project = clients.jira.get_project(request.jira_project)
    project_id, project_key = str(project["id"]), str(project["key"])
    with container.session() as session:
        if binding_for_project(session, connection_id, project_id) is not None:
            raise Conflict(
                f"Jira project {project_key} is already bound to this connection.",
                details=[{"field": "jira_project", "message": "already bound"}],
            )
        binding = ProjectBinding(
            connection_id=connection_id, jira_project_id=project_id, jira_project_key=project_key
        )
        session.add(binding)
        session.flush()
        return binding


def delete_binding(session: Session, connection_id: str, binding_id: str) -> None:
    session.delete(get_binding(session, connection_id, binding_id))


def binding_view(session: Session, binding: ProjectBinding) -> BindingView:
    count = session.scalar(
        select(func.count())
        .select_from(EntityMapping)
        .where(EntityMapping.binding_id == binding.id)
    )
    return BindingView(
        id=binding.id,
        connection_id=binding.connection_id,
        jira_project_id=binding.jira_project_id,
        jira_project_key=binding.jira_project_key,
        entity_mappings=count or 0,
        created_at=binding.created_at,
    )


# -- entity mappings ---------------------------------------------------------------------------


def list_entity_mappings(
    session: Session, connection_id: str, binding_id: str
) -> list[EntityMapping]:
    binding = get_binding(session, connection_id, binding_id)
    return list(
        session.scalars(
            select(EntityMapping)
            .where(EntityMapping.binding_id == binding.id)
            .order_by(EntityMapping.salesforce_object, EntityMapping.created_at, EntityMapping.id)
        )
    )


def get_entity_mapping(
    session: Session, connection_id: str, binding_id: str, mapping_id: str
) -> EntityMapping:
    binding = get_binding(session, connection_id, binding_id)
    mapping = session.get(EntityMapping, mapping_id) if mapping_id else None
    if mapping is None or mapping.binding_id != binding.id:
        raise NotFound(f"Entity mapping {mapping_id!r} does not exist in this binding.")
    return mapping


def create_entity_mapping(
    container: Container, connection_id: str, binding_id: str, request: EntityMappingCreate
) -> EntityMapping:
    """Map an issue type (or every type) to a Salesforce object, with given or default fields."""
    with container.session() as session:
        binding = get_binding(session, connection_id, binding_id)
        connection = binding.connection
        project_id = binding.jira_project_id
    with clients_for(container, connection) as clients:
        catalog = _Catalog(clients, project_id)
        planned = catalog.plan(
            request.jira_issue_type_id, request.salesforce_object, request.fields, ""
        )
    with container.session() as session:
        binding = get_binding(session, connection_id, binding_id)
        _ensure_no_duplicate(session, binding.id, planned.issue_type_id, planned.salesforce_object)
        mapping = _store(session, binding.id, planned)
        session.flush()
        session.refresh(mapping)
        return mapping


def delete_entity_mapping(
    session: Session, connection_id: str, binding_id: str, mapping_id: str
) -> None:
    session.delete(get_entity_mapping(session, connection_id, binding_id, mapping_id))


def entity_mapping_view(mapping: EntityMapping) -> EntityMappingView:
    return EntityMappingView(
        id=mapping.id,
        binding_id=mapping.binding_id,
        jira_issue_type_id=mapping.jira_issue_type_id,
        salesforce_object=mapping.salesforce_object,
        fields=[field_mapping_view(item) for item in mapping.field_mappings],
        created_at=mapping.created_at,
    )


# -- field mappings ----------------------------------------------------------------------------


def get_field_mapping(
    session: Session, connection_id: str, binding_id: str, mapping_id: str, field_id: str
) -> FieldMapping:
    mapping = get_entity_mapping(session, connection_id, binding_id, mapping_id)
    item = session.get(FieldMapping, field_id) if field_id else None
    if item is None or item.entity_mapping_id != mapping.id:
        raise NotFound(f"Field mapping {field_id!r} does not exist in this entity mapping.")
    return item


def add_field_mapping(
    container: Container,
    connection_id: str,
    binding_id: str,
    mapping_id: str,
    request: FieldMappingInput,
) -> FieldMapping:
    """Add one field mapping after checking both field names with the vendors."""
    with container.session() as session:
        mapping = get_entity_mapping(session, connection_id, binding_id, mapping_id)
        connection = mapping.binding.connection
        project_id = mapping.binding.jira_project_id
        salesforce_object = mapping.salesforce_object
    with clients_for(container, connection) as clients:
        catalog = _Catalog(clients, project_id)
        checked = catalog.check_fields(salesforce_object, [request], "")[0]
    with container.session() as session:
        mapping = get_entity_mapping(session, connection_id, binding_id, mapping_id)
        for existing in mapping.field_mappings:
            if (existing.jira_field, existing.salesforce_field) == (
                checked["jira_field"],
                checked["salesforce_field"],
            ) and directions_overlap(existing.direction, checked["direction"]):
                raise Conflict(
                    f"{checked['jira_field']} ↔ {checked['salesforce_field']} is already mapped.",
                    details=[
                        {
                            "field": "jira_field",
                            "message": "already mapped to this Salesforce field",
                        }
                    ],
                )
        position = max((existing.position for existing in mapping.field_mappings), default=-1) + 1
        item = FieldMapping(entity_mapping_id=mapping.id, position=position, **checked)
        session.add(item)
        session.flush()
        return item


def update_field_mapping(
    session: Session,
    connection_id: str,
    binding_id: str,
    mapping_id: str,
    field_id: str,
    request: FieldMappingUpdate,
) -> FieldMapping:
    """Change policies of a field mapping (its two field names are its identity: delete and add)."""
    item = get_field_mapping(session, connection_id, binding_id, mapping_id, field_id)
    changes = request.model_dump(exclude_unset=True)
    if "value_map" in changes:
        changes["value_map"] = (request.value_map or ValueMap()).model_dump()
    merged = {
        name: changes.get(name, getattr(item, name))
        for name in ("unmapped_push", "unmapped_push_value", "unmapped_pull", "unmapped_pull_value")
    }
    try:
        check_set_policies(**merged)
    except ValueError as error:
        raise ValidationFailed(
            str(error), details=[{"field": "unmapped", "message": str(error)}]
        ) from None
    direction = changes.get("direction") or item.direction
    for sibling in item.entity_mapping.field_mappings:
        if (
            sibling.id != item.id
            and (sibling.jira_field, sibling.salesforce_field)
            == (item.jira_field, item.salesforce_field)
            and directions_overlap(sibling.direction, direction)
        ):
            raise Conflict(
                f"{item.jira_field} ↔ {item.salesforce_field} is already mapped in that direction.",
                details=[{"field": "direction", "message": "overlaps another row of this pair"}],
            )
    for name, value in changes.items():
        if value is None and name not in ("unmapped_push_value", "unmapped_pull_value"):
            continue  # null means "unchanged" for the required columns
        setattr(item, name, value)
    session.flush()
    return item


def directions_overlap(first: str, second: str) -> bool:
    """Two rows of one field pair may coexist only as one push row and one pull row (as in SFJC,
    e.g. to give each direction its own value map)."""
    return first == second or "both" in (first, second)


def delete_field_mapping(
    session: Session, connection_id: str, binding_id: str, mapping_id: str, field_id: str
) -> None:
    session.delete(get_field_mapping(session, connection_id, binding_id, mapping_id, field_id))


def field_mapping_view(item: FieldMapping) -> FieldMappingView:
    value_map = item.value_map or {}
    return FieldMappingView(
        id=item.id,
        position=item.position,
        jira_field=item.jira_field,
        salesforce_field=item.salesforce_field,
        direction=item.direction,  # type: ignore[arg-type]
        value_map=ValueMap(push=value_map.get("push", {}), pull=value_map.get("pull", {})),
        unmapped_push=item.unmapped_push,  # type: ignore[arg-type]
        unmapped_push_value=item.unmapped_push_value,
        unmapped_pull=item.unmapped_pull,  # type: ignore[arg-type]
        unmapped_pull_value=item.unmapped_pull_value,
        conflict_policy=item.conflict_policy,  # type: ignore[arg-type]
    )


# -- export and import -------------------------------------------------------------------------


def export_mappings(session: Session, connection_id: str, binding_id: str) -> MappingDocument:
    binding = get_binding(session, connection_id, binding_id)
    entity_mappings = []
    for mapping in list_entity_mappings(session, connection_id, binding_id):
        fields = [
            FieldMappingInput.model_validate(
                field_mapping_view(item).model_dump(exclude={"id", "position"})
            )
            for item in mapping.field_mappings
        ]
        entity_mappings.append(
            ExportedEntityMapping(
                jira_issue_type_id=mapping.jira_issue_type_id,
                salesforce_object=mapping.salesforce_object,
                fields=fields,
            )
        )
    return MappingDocument(
        jira_project=ExportedProject(id=binding.jira_project_id, key=binding.jira_project_key),
        entity_mappings=entity_mappings,
    )


def import_mappings(
    container: Container, connection_id: str, binding_id: str, document: MappingDocument
) -> list[EntityMapping]:
    """Replace the binding's mappings with ``document``, all or nothing, names checked first."""
    with container.session() as session:
        binding = get_binding(session, connection_id, binding_id)
        connection = binding.connection
        project_id = binding.jira_project_id
    with clients_for(container, connection) as clients:
        catalog = _Catalog(clients, project_id)
        planned = [
            catalog.plan(
                item.jira_issue_type_id,
                item.salesforce_object,
                item.fields,
                f"entity_mappings.{index}.",
            )
            for index, item in enumerate(document.entity_mappings)
        ]
    seen: set[tuple[str | None, str]] = set()
    for index, plan in enumerate(planned):
        identity = (plan.issue_type_id, plan.salesforce_object)
        if identity in seen:
            raise ValidationFailed(
                f"The document maps {plan.salesforce_object} to the same issue type twice.",
                details=[
                    {"field": f"entity_mappings.{index}", "message": "duplicate entity mapping"}
                ],
            )
        seen.add(identity)
    with container.session() as session:
        binding = get_binding(session, connection_id, binding_id)
        for existing in list(binding.entity_mappings):
            session.delete(existing)
        session.flush()
        stored = [_store(session, binding.id, plan) for plan in planned]
        session.flush()
        for mapping in stored:
            session.refresh(mapping)
        return stored


# -- internals ---------------------------------------------------------------------------------


@dataclass
class _PlannedMapping:
    issue_type_id: str | None
    salesforce_object: str
    fields: list[dict[str, Any]] = field(default_factory=list)


class _Catalog:
    """Jira and Salesforce metadata for one operation, fetched at most once each."""

    def __init__(self, clients: ConnectionClients, project_id: str) -> None:
        self._clients = clients
        self._project_id = project_id
        self._issue_types: list[dict[str, Any]] | None = None
        self._jira_fields: dict[str, str] | None = None
        self._jira_field_names: dict[str, str] | None = None
        self._describes: dict[str, dict[str, Any]] = {}

    def plan(
        self,
        issue_type: str | None,
        salesforce_object: str,
        fields: Sequence[FieldMappingInput] | None,
        prefix: str,
    ) -> _PlannedMapping:
        issue_type_id = (
            self.issue_type_id(issue_type, f"{prefix}jira_issue_type_id") if issue_type else None
        )
        canonical_object = self.object_name(salesforce_object, f"{prefix}salesforce_object")
        if fields is None:
            checked = self.applicable_defaults(canonical_object)
        else:
            checked = self.check_fields(canonical_object, fields, f"{prefix}fields.")
        return _PlannedMapping(issue_type_id, canonical_object, checked)

    def issue_type_id(self, reference: str, field_name: str) -> str:
        if self._issue_types is None:
            project = self._clients.jira.get_project(self._project_id)
            types = project.get("issueTypes")
            self._issue_types = (
                [item for item in types if isinstance(item, dict)]
                if isinstance(types, list)
                else []
            )
        for item in self._issue_types:
            if (
                str(item.get("id")) == reference
                or str(item.get("name", "")).lower() == reference.lower()
            ):
                return str(item["id"])
        names = ", ".join(f"{item.get('name')} ({item.get('id')})" for item in self._issue_types)
        raise _invalid(
            field_name,
            f"issue type {reference!r} is not in the project (it has: {names or 'none'})",
        )

    def object_name(self, name: str, field_name: str) -> str:
        try:
            description = self._describe(name)
        except ExternalServiceError as error:
            # describe answers 404 NOT_FOUND for an unknown object (INVALID_TYPE on older APIs).
            if error.status != 404 and error.code not in ("NOT_FOUND", "INVALID_TYPE"):
                raise
            raise _invalid(
                field_name, f"Salesforce has no object {name!r} visible to the integration user"
            ) from None
        except NotFound:
            raise _invalid(field_name, f"Salesforce has no object {name!r}") from None
        except ValidationFailed as error:
            raise _invalid(field_name, error.message) from None
        return str(description.get("name") or name)

    def applicable_defaults(self, salesforce_object: str) -> list[dict[str, Any]]:
        """The object's defaults, minus any whose field this site or org does not have."""
        applicable = []
        for default in default_field_mappings(salesforce_object):
            jira_field = self._jira_field(default["jira_field"])
            salesforce_field = self._salesforce_field(
                salesforce_object, default["salesforce_field"]
            )
            if jira_field is not None and salesforce_field is not None:
                applicable.append(
                    {
                        **default,
                        "jira_field": jira_field,
                        "salesforce_field": salesforce_field["name"],
                    }
                )
        return applicable

    def check_fields(
        self, salesforce_object: str, fields: Sequence[FieldMappingInput], prefix: str
    ) -> list[dict[str, Any]]:
        problems: list[dict[str, str]] = []
        checked: list[dict[str, Any]] = []
        pairs: dict[tuple[str, str], list[str]] = {}
        for index, item in enumerate(fields):
            jira_field = self._jira_field(item.jira_field)
            salesforce_field = self._salesforce_field(salesforce_object, item.salesforce_field)
            if jira_field is None:
                problems.append(
                    {
                        "field": f"{prefix}{index}.jira_field",
                        "message": f"Jira has no field {item.jira_field!r}",
                    }
                )
            if salesforce_field is None:
                problems.append(
                    {
                        "field": f"{prefix}{index}.salesforce_field",
                        "message": f"{salesforce_object} has no field {item.salesforce_field!r}",
                    }
                )
            elif (
                item.direction in ("push", "both")
                and salesforce_field.get("updateable") is False
                and salesforce_field.get("createable") is False
            ):
                problems.append(
                    {
                        "field": f"{prefix}{index}.direction",
                        "message": f"{salesforce_object}.{salesforce_field['name']} is read-only: "
                        "use direction 'pull'",
                    }
                )
            if jira_field is None or salesforce_field is None:
                continue
            pair = (jira_field, str(salesforce_field["name"]))
            if any(directions_overlap(item.direction, other) for other in pairs.get(pair, [])):
                problems.append(
                    {"field": f"{prefix}{index}", "message": "the same two fields are mapped twice"}
                )
            pairs.setdefault(pair, []).append(item.direction)
            values = item.model_dump()
            values.update(jira_field=pair[0], salesforce_field=pair[1])
            checked.append(values)
        if problems:
            summary = "; ".join(
                f"{problem['field']}: {problem['message']}" for problem in problems[:5]
            )
            raise ValidationFailed(f"Invalid field mapping: {summary}", details=problems)
        return checked

    def _describe(self, salesforce_object: str) -> dict[str, Any]:
        key = salesforce_object.lower()
        if key not in self._describes:
            self._describes[key] = self._clients.salesforce.describe(salesforce_object)
        return self._describes[key]

    def _salesforce_field(self, salesforce_object: str, name: str) -> dict[str, Any] | None:
        fields = self._describe(salesforce_object).get("fields")
        for item in fields if isinstance(fields, list) else []:
            if isinstance(item, dict) and str(item.get("name", "")).lower() == name.lower():
                return item
        return None

    def _jira_field(self, reference: str) -> str | None:
        """The field id for an id (``summary``, ``customfield_10010``) or a display name."""
        if self._jira_fields is None:
            ids: dict[str, str] = {}
            names: dict[str, str] = {}
            for item in self._clients.jira.fields():
                if isinstance(item, dict) and item.get("id"):
                    ids[str(item["id"]).lower()] = str(item["id"])
                    names.setdefault(str(item.get("name", "")).lower(), str(item["id"]))
            self._jira_fields, self._jira_field_names = ids, names
        assert self._jira_field_names is not None
        return self._jira_fields.get(reference.lower()) or self._jira_field_names.get(
            reference.lower()
        )


def _store(session: Session, binding_id: str, plan: _PlannedMapping) -> EntityMapping:
    mapping = EntityMapping(
        binding_id=binding_id,
        jira_issue_type_id=plan.issue_type_id,
        salesforce_object=plan.salesforce_object,
    )
    session.add(mapping)
    session.flush()
    for position, values in enumerate(plan.fields):
        values = dict(values)
        value_map = values.pop("value_map", None) or {}
        session.add(
            FieldMapping(
                entity_mapping_id=mapping.id,
                position=position,
                value_map={
                    "push": dict(value_map.get("push", {})),
                    "pull": dict(value_map.get("pull", {})),
                },
                **values,
            )
        )
    return mapping


def _ensure_no_duplicate(
    session: Session, binding_id: str, issue_type_id: str | None, salesforce_object: str
) -> None:
    # The unique constraint cannot catch this for a null issue type (NULLs are distinct in SQL).
    statement = select(EntityMapping.id).where(
        EntityMapping.binding_id == binding_id,
        EntityMapping.salesforce_object == salesforce_object,
        EntityMapping.jira_issue_type_id.is_(None)
        if issue_type_id is None
        else EntityMapping.jira_issue_type_id == issue_type_id,
    )
    if session.scalar(statement) is not None:
        scope = f"issue type {issue_type_id}" if issue_type_id else "every issue type"
        raise Conflict(
            f"{salesforce_object} is already mapped for {scope} in this binding.",
            details=[{"field": "salesforce_object", "message": "already mapped"}],
        )


def _load_connection(container: Container, connection_id: str) -> Connection:
    with container.session() as session:
        return get_connection(session, connection_id)


def _invalid(field_name: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field_name}: {reason}.", details=[{"field": field_name, "message": reason}]
    )
