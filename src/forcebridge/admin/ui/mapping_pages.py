"""Binding and mapping pages: bind Jira projects, map issue types to objects, edit field mappings.

The pickers are filled from the vendors (Jira's ``/field`` and the project's issue types,
Salesforce's describe of the mapped object) through the connection's own clients; when a vendor
cannot be read the page still works with free-text inputs and says why. Value maps are edited as
lines ``jira value => salesforce value``. Import and export use the admin API's mapping document.
Binding and unbinding keep the connection's Jira webhook in line (``refresh_jira_webhook``) and
report it as ``connection_pages.flash_webhook_outcome`` describes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from forcebridge.admin.ui.connection_pages import flash_webhook_outcome, webhook_notice
from forcebridge.admin.ui.rendering import (
    AdminPost,
    AdminSession,
    UiRoute,
    parse_form,
    redirect,
    render,
    validation_sentences,
)
from forcebridge.api.deps import ContainerDep
from forcebridge.connections import service as connections
from forcebridge.connections.clients import clients_for
from forcebridge.container import Container
from forcebridge.errors import ForceBridgeError, ValidationFailed
from forcebridge.mappings import service as mappings
from forcebridge.mappings.schemas import (
    BindingCreate,
    EntityMappingCreate,
    FieldMappingInput,
    FieldMappingUpdate,
    MappingDocument,
)
from forcebridge.webhooks.registration import refresh_jira_webhook

router = APIRouter(prefix="/admin/connections", route_class=UiRoute, include_in_schema=False)

DIRECTIONS = (("push", "Jira → Salesforce"), ("pull", "Salesforce → Jira"), ("both", "Both ways"))
UNMAPPED_POLICIES = (
    ("copy", "copy the value as it is"),
    ("set", "set a fixed value"),
    ("empty", "leave the field empty"),
    ("error", "report an error"),
)
CONFLICT_POLICIES = ("newest", "salesforce", "jira")
MAX_IMPORT_BYTES = 1_000_000


def _base(request: Request, connection_id: str) -> str:
    return f"/admin/connections/{connection_id}/bindings"


@router.get("/{connection_id}/bindings")
def bindings_page(
    request: Request, connection_id: str, session: AdminSession, container: ContainerDep
) -> Response:
    with container.session() as db:
        connection = connections.get_connection(db, connection_id)
        bindings = [
            mappings.binding_view(db, row).model_dump(mode="json")
            for row in mappings.list_bindings(db, connection_id)
        ]
        name = connection.name
    return render(
        request,
        session,
        "bindings.html",
        {
            "nav": "connections",
            "connection": {"id": connection_id, "name": name},
            "bindings": bindings,
            "webhook_notice": webhook_notice(request, container, connection_id),
        },
    )


@router.post("/{connection_id}/bindings")
def bind_project(
    request: Request,
    connection_id: str,
    session: AdminPost,
    container: ContainerDep,
    jira_project: Annotated[str, Form()] = "",
) -> Response:
    payload = parse_form(BindingCreate, {"jira_project": jira_project})
    binding = mappings.create_binding(container, connection_id, payload)
    session.flash("success", f"Jira project {binding.jira_project_key} bound. Map its issue types.")
    notice = flash_webhook_outcome(
        session, connection_id, refresh_jira_webhook(container, connection_id)
    )
    return redirect(request, session, f"{_base(request, connection_id)}/{binding.id}{notice}")


@router.post("/{connection_id}/bindings/{binding_id}/delete")
def unbind_project(
    request: Request,
    connection_id: str,
    binding_id: str,
    session: AdminPost,
    container: ContainerDep,
) -> Response:
    with container.session() as db:
        mappings.delete_binding(db, connection_id, binding_id)
    session.flash("success", "Project unbound; its mappings were removed.")
    notice = flash_webhook_outcome(
        session, connection_id, refresh_jira_webhook(container, connection_id)
    )
    return redirect(request, session, _base(request, connection_id) + notice)


def _vendor_catalog(
    container: Container, connection_id: str, project_id: str, objects: list[str]
) -> dict[str, Any]:
    """Issue types, Jira fields and each object's fields for the pickers (or why not)."""
    catalog: dict[str, Any] = {"issue_types": [], "jira_fields": [], "objects": {}, "problem": None}
    with container.session() as db:
        connection = connections.get_connection(db, connection_id)
    try:
        with clients_for(container, connection) as clients:
            project = clients.jira.get_project(project_id)
            catalog["issue_types"] = [
                {"id": str(kind.get("id")), "name": str(kind.get("name"))}
                for kind in project.get("issueTypes", [])
            ]
            catalog["jira_fields"] = sorted(
                (
                    {"id": str(field["id"]), "name": str(field.get("name") or field["id"])}
                    for field in clients.jira.fields()
                    if field.get("id")
                ),
                key=lambda field: field["name"].lower(),
            )
            for salesforce_object in objects:
                described = clients.salesforce.describe(salesforce_object)
                catalog["objects"][salesforce_object] = sorted(
                    (
                        {"name": str(field["name"]), "label": str(field.get("label") or "")}
                        for field in described.get("fields", [])
                        if field.get("name")
                    ),
                    key=lambda field: field["name"].lower(),
                )
    except ForceBridgeError as error:
        catalog["problem"] = f"{error.message} The pickers accept typed names meanwhile."
    return catalog


@router.get("/{connection_id}/bindings/{binding_id}")
def binding_page(
    request: Request,
    connection_id: str,
    binding_id: str,
    session: AdminSession,
    container: ContainerDep,
) -> Response:
    with container.session() as db:
        connection = connections.get_connection(db, connection_id)
        binding = mappings.get_binding(db, connection_id, binding_id)
        binding_data = mappings.binding_view(db, binding).model_dump(mode="json")
        entity_mappings = [
            mappings.entity_mapping_view(row).model_dump(mode="json")
            for row in mappings.list_entity_mappings(db, connection_id, binding_id)
        ]
        connection_name = connection.name
    objects = sorted({mapping["salesforce_object"] for mapping in entity_mappings})
    catalog = _vendor_catalog(container, connection_id, binding_data["jira_project_id"], objects)
    type_names = {kind["id"]: kind["name"] for kind in catalog["issue_types"]}
    for mapping in entity_mappings:
        type_id = mapping["jira_issue_type_id"]
        mapping["issue_type_label"] = (
            "Every issue type" if type_id is None else type_names.get(type_id, f"type {type_id}")
        )
        for field in mapping["fields"]:
            field["push_map_text"] = _map_text(field["value_map"]["push"])
            field["pull_map_text"] = _map_text(field["value_map"]["pull"])
    return render(
        request,
        session,
        "binding.html",
        {
            "nav": "connections",
            "connection": {"id": connection_id, "name": connection_name},
            "binding": binding_data,
            "entity_mappings": entity_mappings,
            "catalog": catalog,
            "webhook_notice": webhook_notice(request, container, connection_id),
            "directions": DIRECTIONS,
            "unmapped_policies": UNMAPPED_POLICIES,
            "conflict_policies": CONFLICT_POLICIES,
        },
    )


@router.post("/{connection_id}/bindings/{binding_id}/entity-mappings")
def add_entity_mapping(
    request: Request,
    connection_id: str,
    binding_id: str,
    session: AdminPost,
    container: ContainerDep,
    jira_issue_type_id: Annotated[str, Form()] = "",
    salesforce_object: Annotated[str, Form()] = "",
) -> Response:
    payload = parse_form(
        EntityMappingCreate,
        {
            "jira_issue_type_id": jira_issue_type_id.strip() or None,
            "salesforce_object": salesforce_object,
        },
    )
    mapping = mappings.create_entity_mapping(container, connection_id, binding_id, payload)
    session.flash("success", f"Issue type mapped to {mapping.salesforce_object}; add its fields.")
    return redirect(request, session, f"{_base(request, connection_id)}/{binding_id}")


@router.post("/{connection_id}/bindings/{binding_id}/entity-mappings/{mapping_id}/delete")
def delete_entity_mapping(
    request: Request,
    connection_id: str,
    binding_id: str,
    mapping_id: str,
    session: AdminPost,
    container: ContainerDep,
) -> Response:
    with container.session() as db:
        mappings.delete_entity_mapping(db, connection_id, binding_id, mapping_id)
    session.flash("success", "Entity mapping deleted.")
    return redirect(request, session, f"{_base(request, connection_id)}/{binding_id}")


def _map_text(values: dict[str, str]) -> str:
    return "\n".join(f"{source} => {target}" for source, target in values.items())


def _parse_map(text: str, label: str) -> dict[str, str]:
    """``jira value => salesforce value`` per line; blank lines are ignored."""
    parsed: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        source, arrow, target = line.partition("=>")
        if not arrow:
            raise ValidationFailed(
                f"{label} value map, line {number}: write it as 'from => to'.",
                hint="One pair per line, e.g. 'Highest => High'.",
            )
        parsed[source.strip()] = target.strip()
    return parsed


class PolicyForm:
    """The sync-policy inputs the add and edit forms of a field mapping share.

    A dependency class, so both routes read the same form fields; the value maps are parsed only
    when :meth:`fields` is called, inside the route, after the CSRF check.
    """

    def __init__(
        self,
        direction: Annotated[str, Form()] = "both",
        push_map: Annotated[str, Form()] = "",
        pull_map: Annotated[str, Form()] = "",
        unmapped_push: Annotated[str, Form()] = "copy",
        unmapped_push_value: Annotated[str, Form()] = "",
        unmapped_pull: Annotated[str, Form()] = "copy",
        unmapped_pull_value: Annotated[str, Form()] = "",
        conflict_policy: Annotated[str, Form()] = "newest",
    ) -> None:
        self.direction = direction
        self.push_map = push_map
        self.pull_map = pull_map
        self.unmapped_push = unmapped_push
        self.unmapped_push_value = unmapped_push_value
        self.unmapped_pull = unmapped_pull
        self.unmapped_pull_value = unmapped_pull_value
        self.conflict_policy = conflict_policy

    def fields(self) -> dict[str, Any]:
        """The policy members of ``FieldMappingInput`` / ``FieldMappingUpdate``."""
        set_push, set_pull = self.unmapped_push == "set", self.unmapped_pull == "set"
        return {
            "direction": self.direction,
            "value_map": {
                "push": _parse_map(self.push_map, "Push"),
                "pull": _parse_map(self.pull_map, "Pull"),
            },
            "unmapped_push": self.unmapped_push,
            "unmapped_push_value": self.unmapped_push_value if set_push else None,
            "unmapped_pull": self.unmapped_pull,
            "unmapped_pull_value": self.unmapped_pull_value if set_pull else None,
            "conflict_policy": self.conflict_policy,
        }


PolicyInputs = Annotated[PolicyForm, Depends()]


@router.post("/{connection_id}/bindings/{binding_id}/entity-mappings/{mapping_id}/fields")
def add_field_mapping(
    request: Request,
    connection_id: str,
    binding_id: str,
    mapping_id: str,
    session: AdminPost,
    container: ContainerDep,
    policy: PolicyInputs,
    jira_field: Annotated[str, Form()] = "",
    salesforce_field: Annotated[str, Form()] = "",
) -> Response:
    fields = {"jira_field": jira_field, "salesforce_field": salesforce_field, **policy.fields()}
    payload = parse_form(FieldMappingInput, fields)
    item = mappings.add_field_mapping(container, connection_id, binding_id, mapping_id, payload)
    session.flash("success", f"Field mapping {item.jira_field} ↔ {item.salesforce_field} added.")
    return redirect(request, session, f"{_base(request, connection_id)}/{binding_id}")


@router.post(
    "/{connection_id}/bindings/{binding_id}/entity-mappings/{mapping_id}/fields/{field_id}"
)
def update_field_mapping(
    request: Request,
    connection_id: str,
    binding_id: str,
    mapping_id: str,
    field_id: str,
    session: AdminPost,
    container: ContainerDep,
    policy: PolicyInputs,
) -> Response:
    payload = parse_form(FieldMappingUpdate, policy.fields())
    with container.session() as db:
        item = mappings.update_field_mapping(
            db, connection_id, binding_id, mapping_id, field_id, payload
        )
        label = f"{item.jira_field} ↔ {item.salesforce_field}"
    session.flash("success", f"Field mapping {label} saved.")
    return redirect(request, session, f"{_base(request, connection_id)}/{binding_id}")


@router.post(
    "/{connection_id}/bindings/{binding_id}/entity-mappings/{mapping_id}/fields/{field_id}/delete"
)
def delete_field_mapping(
    request: Request,
    connection_id: str,
    binding_id: str,
    mapping_id: str,
    field_id: str,
    session: AdminPost,
    container: ContainerDep,
) -> Response:
    with container.session() as db:
        mappings.delete_field_mapping(db, connection_id, binding_id, mapping_id, field_id)
    session.flash("success", "Field mapping deleted.")
    return redirect(request, session, f"{_base(request, connection_id)}/{binding_id}")


@router.get("/{connection_id}/bindings/{binding_id}/export")
def export_mappings(
    request: Request,
    connection_id: str,
    binding_id: str,
    session: AdminSession,
    container: ContainerDep,
) -> Response:
    with container.session() as db:
        document = mappings.export_mappings(db, connection_id, binding_id)
    key = (document.jira_project.key if document.jira_project else None) or binding_id
    return Response(
        json.dumps(document.model_dump(mode="json"), indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="forcebridge-mappings-{key}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/{connection_id}/bindings/{binding_id}/import")
def import_mappings(
    request: Request,
    connection_id: str,
    binding_id: str,
    session: AdminPost,
    container: ContainerDep,
    document: Annotated[str, Form()] = "",
) -> Response:
    if len(document.encode()) > MAX_IMPORT_BYTES:
        raise ValidationFailed("The mapping document is larger than 1 MB.")
    try:
        parsed = MappingDocument.model_validate_json(document or "{}")
    except ValidationError as error:
        raise ValidationFailed(
            "The document is not a ForceBridge mapping export: "
            + "; ".join(validation_sentences(error)),
            hint="Paste the JSON that Export produced (version 1).",
        ) from None
    stored = mappings.import_mappings(container, connection_id, binding_id, parsed)
    session.flash("success", f"{len(stored)} entity mapping(s) imported; the old ones replaced.")
    return redirect(request, session, f"{_base(request, connection_id)}/{binding_id}")
