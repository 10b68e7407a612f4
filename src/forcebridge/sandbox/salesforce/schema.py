"""The emulated org's metadata: which objects exist, their fields, and how describe shows them.

Each object is an ``ObjectDefinition`` with ``FieldDefinition``s; everything else (validation,
SOQL, describe, describeGlobal) reads these. Field and object names are case-insensitive in the
REST API, so lookups go through lower-cased maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STRING_LIKE_TYPES = frozenset(
    {"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "combobox"}
)
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
ID_TYPES = frozenset({"id", "reference"})
# Long text areas cannot be filtered or sorted in SOQL, as in a real org.
FILTERABLE_TEXTAREA_MAX_LENGTH = 255

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "base64": "xsd:base64Binary",
}


@dataclass(frozen=True)
class PicklistValue:
    value: str
    default: bool = False
    active: bool = True


@dataclass
class FieldDefinition:
    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    default_value: Any = None
    picklist: tuple[PicklistValue, ...] = ()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    # Name of the relationship as seen from the referenced (parent) object, e.g. "CaseComments".
    child_relationship_name: str | None = None
    cascade_delete: bool = False
    external_id: bool = False
    unique: bool = False
    name_field: bool = False
    calculated: bool = False
    auto_number: bool = False

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.name.removesuffix("__c").replace("_", " ")
        if self.type in {"id", "reference"}:
            self.length = 18

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def required_on_create(self) -> bool:
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def filterable(self) -> bool:
        if self.type == "base64":
            return False
        return not (self.type == "textarea" and self.length > FILTERABLE_TEXTAREA_MAX_LENGTH)

    @property
    def picklist_values(self) -> list[str]:
        return [entry.value for entry in self.picklist if entry.active]

    def describe(self) -> dict[str, Any]:
        is_text = self.type in STRING_LIKE_TYPES or self.type in {"textarea", "base64"}
        is_number = self.type in NUMBER_TYPES
        return {
            "aggregatable": self.filterable and self.type not in {"boolean", "multipicklist"},
            "aiPredictionField": False,
            "autoNumber": self.auto_number,
            "byteLength": self.length * 3 if is_text or self.type in ID_TYPES else 0,
            "calculated": self.calculated,
            "calculatedFormula": None,
            "cascadeDelete": self.cascade_delete,
            "caseSensitive": False,
            "compoundFieldName": None,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default_value if self.type == "boolean" else None,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": 9 if self.type == "int" else 0,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": None,
            "filterable": self.filterable,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": self.filterable and not is_number and self.type != "datetime",
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.type == "id" or self.external_id or self.auto_number,
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length if is_text else 0,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": self.type == "reference" and len(self.reference_to) > 1,
            "nillable": self.nillable,
            "permissionable": self.nillable and self.createable and self.type != "id",
            "picklistValues": [
                {
                    "active": entry.active,
                    "defaultValue": entry.default,
                    "label": entry.value,
                    "validFor": None,
                    "value": entry.value,
                }
                for entry in self.picklist
            ],
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "precision": self.precision,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted_picklist,
            "scale": self.scale,
            "searchPrefilterable": self.type == "reference",
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.filterable and self.type != "multipicklist",
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass
class ObjectDefinition:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: list[FieldDefinition]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    _by_lower_name: dict[str, FieldDefinition] = field(default_factory=dict, repr=False)
    _by_relationship: dict[str, FieldDefinition] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_lower_name = {definition.name.lower(): definition for definition in self.fields}
        self._by_relationship = {
            definition.relationship_name.lower(): definition
            for definition in self.fields
            if definition.relationship_name
        }

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def field(self, name: str) -> FieldDefinition | None:
        return self._by_lower_name.get(name.lower())

    def relationship(self, name: str) -> FieldDefinition | None:
        """The reference field behind a parent relationship name (``Account`` → ``AccountId``)."""
        return self._by_relationship.get(name.lower())

    def basic_info(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "activateable": False,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": self.name in {"Account", "Case", "Contact", "Opportunity", "Lead"},
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.name in {"Account", "Contact", "Lead", "Case"},
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": self.deletable,
            "updateable": self.updateable,
            "urls": {
                "rowTemplate": f"{base}/{{ID}}",
                "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
                "describe": f"{base}/describe",
                "sobject": base,
            },
        }


class Schema:
    """Every object of the emulated org, with child relationships computed from reference fields."""

    def __init__(self, objects: list[ObjectDefinition]) -> None:
        self.objects = {definition.name: definition for definition in objects}
        self._by_lower_name = {
            name.lower(): definition for name, definition in self.objects.items()
        }
        self._by_prefix = {definition.key_prefix: definition for definition in objects}

    def object(self, name: str) -> ObjectDefinition | None:
        return self._by_lower_name.get(name.lower())

    def object_for_prefix(self, key_prefix: str) -> ObjectDefinition | None:
        return self._by_prefix.get(key_prefix)

    def child_relationships(
        self, parent: str
    ) -> list[tuple[str, ObjectDefinition, FieldDefinition]]:
        """``(relationshipName, child object, child's reference field)`` for children of
        ``parent``.
        """
        found = []
        for child in self.objects.values():
            for definition in child.fields:
                if definition.type == "reference" and parent in definition.reference_to:
                    name = definition.child_relationship_name
                    if (name and definition.reference_to == (parent,)) or (
                        name and len(definition.reference_to) > 1
                    ):
                        found.append((name, child, definition))
        return found

    def child_relationship(
        self, parent: str, name: str
    ) -> tuple[ObjectDefinition, FieldDefinition] | None:
        for relationship_name, child, definition in self.child_relationships(parent):
            if relationship_name.lower() == name.lower():
                return child, definition
        return None

    def describe(self, name: str, version: str) -> dict[str, Any]:
        definition = self.objects[name]
        described = definition.basic_info(version)
        # describe's ``urls`` map is not in the published DescribeSObjectResult schema, whose
        # ``additionalProperties: false`` is what clients are checked against.
        described.pop("urls")
        described.update(
            {
                "actionOverrides": [],
                "childRelationships": [
                    {
                        "cascadeDelete": reference.cascade_delete,
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": reference.name,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": relationship_name,
                        "restrictedDelete": False,
                    }
                    for relationship_name, child, reference in self.child_relationships(name)
                ],
                "compactLayoutable": True,
                "dataTranslationEnabled": False,
                "defaultImplementation": None,
                "fields": [field_definition.describe() for field_definition in definition.fields],
                "idEnabled": True,
                "implementedBy": None,
                "implementsInterfaces": None,
                "namedLayoutInfos": [],
                "networkScopeFieldName": None,
                "recordTypeInfos": [
                    {
                        "active": True,
                        "available": True,
                        "defaultRecordTypeMapping": True,
                        "developerName": "Master",
                        "master": True,
                        "name": "Master",
                        "recordTypeId": "012000000000000AAA",
                    }
                ],
                "searchLayoutable": True,
                "supportedScopes": [
                    {"label": "All " + definition.label_plural.lower(), "name": "everything"}
                ],
                "urlDetail": None,
                "urlEdit": None,
                "urlNew": None,
            }
        )
        return described


# -- builders ------------------------------------------------------------------------------------
def _picklist(*values: str, default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(value, default=value == default) for value in values)


def _text(name: str, length: int = 255, **options: Any) -> FieldDefinition:
    return FieldDefinition(name, "string", length=length, **options)


def _long_text(name: str, length: int = 32000, **options: Any) -> FieldDefinition:
    return FieldDefinition(name, "textarea", length=length, **options)


def _reference(
    name: str, *targets: str, relationship: str | None, children: str | None, **options: Any
) -> FieldDefinition:
    return FieldDefinition(
        name,
        "reference",
        reference_to=targets,
        relationship_name=relationship,
        child_relationship_name=children,
        **options,
    )


def _read_only(name: str, field_type: str, **options: Any) -> FieldDefinition:
    return FieldDefinition(name, field_type, createable=False, updateable=False, **options)


def _system_fields(owner: bool = True) -> list[FieldDefinition]:
    fields = [
        _read_only("Id", "id", nillable=False, defaulted_on_create=True, label="Record ID"),
        _read_only(
            "IsDeleted", "boolean", nillable=False, defaulted_on_create=True, default_value=False
        ),
        _read_only("CreatedDate", "datetime", nillable=False, defaulted_on_create=True),
        FieldDefinition(
            "CreatedById",
            "reference",
            createable=False,
            updateable=False,
            nillable=False,
            defaulted_on_create=True,
            reference_to=("User",),
            relationship_name="CreatedBy",
        ),
        _read_only("LastModifiedDate", "datetime", nillable=False, defaulted_on_create=True),
        FieldDefinition(
            "LastModifiedById",
            "reference",
            createable=False,
            updateable=False,
            nillable=False,
            defaulted_on_create=True,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
        ),
        _read_only("SystemModstamp", "datetime", nillable=False, defaulted_on_create=True),
    ]
    if owner:
        fields.append(
            _reference(
                "OwnerId",
                "User",
                relationship="Owner",
                children=None,
                nillable=False,
                defaulted_on_create=True,
                label="Owner ID",
            )
        )
    return fields


_PARENT_TARGETS = ("Account", "Case", "Contact", "Opportunity", "Lead", "Jira_Issue__c", "User")


def build_schema() -> Schema:
    """The objects of the emulated org (standard subset plus the custom ``Jira_Issue__c``)."""
    person_name = [
        _text("FirstName", 40),
        _text("LastName", 80, nillable=False),
        _read_only("Name", "string", length=121, nillable=False, name_field=True, calculated=True),
    ]
    objects = [
        ObjectDefinition(
            "Account",
            "Account",
            "Accounts",
            "001",
            [
                *_system_fields(),
                _text("Name", nillable=False, name_field=True, label="Account Name"),
                FieldDefinition(
                    "Type",
                    "picklist",
                    length=255,
                    picklist=_picklist(
                        "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"
                    ),
                ),
                FieldDefinition(
                    "Industry",
                    "picklist",
                    length=255,
                    picklist=_picklist(
                        "Technology", "Finance", "Healthcare", "Manufacturing", "Retail", "Other"
                    ),
                ),
                FieldDefinition("Phone", "phone", length=40),
                FieldDefinition("Website", "url", length=255),
                FieldDefinition("AnnualRevenue", "currency", precision=18, scale=0),
                FieldDefinition("NumberOfEmployees", "int", precision=8),
                _long_text("Description"),
                # Not unique, as external ids often are in real orgs: an upsert may then match
                # several records and answer 300.
                _text("External_Id__c", 64, external_id=True, label="External Id"),
            ],
        ),
        ObjectDefinition(
            "Contact",
            "Contact",
            "Contacts",
            "003",
            [
                *_system_fields(),
                *person_name,
                _reference("AccountId", "Account", relationship="Account", children="Contacts"),
                FieldDefinition("Email", "email", length=80),
                FieldDefinition("Phone", "phone", length=40),
                _text("Title", 128),
            ],
        ),
        ObjectDefinition(
            "Lead",
            "Lead",
            "Leads",
            "00Q",
            [
                *_system_fields(),
                *person_name,
                _text("Company", nillable=False),
                FieldDefinition("Email", "email", length=80),
                FieldDefinition(
                    "Status",
                    "picklist",
                    length=255,
                    nillable=False,
                    defaulted_on_create=True,
                    restricted_picklist=True,
                    picklist=_picklist(
                        "Open - Not Contacted",
                        "Working - Contacted",
                        "Closed - Converted",
                        "Closed - Not Converted",
                        default="Open - Not Contacted",
                    ),
                ),
            ],
        ),
        ObjectDefinition(
            "Case",
            "Case",
            "Cases",
            "500",
            [
                *_system_fields(),
                _read_only(
                    "CaseNumber",
                    "string",
                    length=30,
                    nillable=False,
                    auto_number=True,
                    defaulted_on_create=True,
                    name_field=True,
                    label="Case Number",
                ),
                _text("Subject"),
                _long_text("Description"),
                FieldDefinition(
                    "Status",
                    "picklist",
                    length=255,
                    nillable=True,
                    defaulted_on_create=True,
                    restricted_picklist=True,
                    picklist=_picklist("New", "Working", "Escalated", "Closed", default="New"),
                ),
                FieldDefinition(
                    "Priority",
                    "picklist",
                    length=255,
                    defaulted_on_create=True,
                    restricted_picklist=True,
                    picklist=_picklist("High", "Medium", "Low", default="Medium"),
                ),
                FieldDefinition(
                    "Origin", "picklist", length=255, picklist=_picklist("Phone", "Email", "Web")
                ),
                FieldDefinition(
                    "Type",
                    "picklist",
                    length=255,
                    picklist=_picklist("Question", "Problem", "Feature Request"),
                ),
                _read_only(
                    "IsClosed",
                    "boolean",
                    nillable=False,
                    defaulted_on_create=True,
                    calculated=False,
                    default_value=False,
                    label="Closed",
                ),
                _read_only("ClosedDate", "datetime"),
                _reference("AccountId", "Account", relationship="Account", children="Cases"),
                _reference("ContactId", "Contact", relationship="Contact", children="Cases"),
                _text(
                    "Jira_Issue_Key__c", 32, external_id=True, unique=True, label="Jira Issue Key"
                ),
            ],
        ),
        ObjectDefinition(
            "Opportunity",
            "Opportunity",
            "Opportunities",
            "006",
            [
                *_system_fields(),
                _text("Name", 120, nillable=False, name_field=True),
                FieldDefinition(
                    "StageName",
                    "picklist",
                    length=255,
                    nillable=False,
                    restricted_picklist=True,
                    picklist=_picklist(
                        "Prospecting",
                        "Qualification",
                        "Needs Analysis",
                        "Proposal/Price Quote",
                        "Negotiation/Review",
                        "Closed Won",
                        "Closed Lost",
                    ),
                ),
                FieldDefinition("Amount", "currency", precision=18, scale=2),
                FieldDefinition("Probability", "percent", precision=3, scale=0),
                FieldDefinition("CloseDate", "date", nillable=False),
                _reference(
                    "AccountId", "Account", relationship="Account", children="Opportunities"
                ),
                _read_only(
                    "IsClosed",
                    "boolean",
                    nillable=False,
                    defaulted_on_create=True,
                    default_value=False,
                ),
                _read_only(
                    "IsWon",
                    "boolean",
                    nillable=False,
                    defaulted_on_create=True,
                    default_value=False,
                ),
                _long_text("Description"),
            ],
        ),
        ObjectDefinition(
            "Jira_Issue__c",
            "Jira Issue",
            "Jira Issues",
            "a0X",
            [
                *_system_fields(),
                _text("Name", 80, name_field=True, label="Jira Issue Name"),
                _text("Issue_Key__c", 32, external_id=True, unique=True, label="Issue Key"),
                _text("Summary__c", 255),
                FieldDefinition(
                    "Status__c",
                    "picklist",
                    length=255,
                    picklist=_picklist("To Do", "In Progress", "Done"),
                ),
                FieldDefinition(
                    "Priority__c",
                    "picklist",
                    length=255,
                    restricted_picklist=True,
                    picklist=_picklist("Highest", "High", "Medium", "Low", "Lowest"),
                ),
                FieldDefinition(
                    "Labels__c",
                    "multipicklist",
                    length=4099,
                    picklist=_picklist("backend", "frontend", "customer", "urgent"),
                ),
                FieldDefinition("Story_Points__c", "double", precision=5, scale=1),
                FieldDefinition("Due_Date__c", "date"),
                FieldDefinition("Last_Synced__c", "datetime"),
                FieldDefinition(
                    "Is_Resolved__c",
                    "boolean",
                    nillable=False,
                    defaulted_on_create=True,
                    default_value=False,
                ),
                FieldDefinition("Assignee_Email__c", "email", length=80),
                _long_text("Description__c", 131072),
                _reference("Case__c", "Case", relationship="Case__r", children="Jira_Issues__r"),
            ],
        ),
        ObjectDefinition(
            "CaseComment",
            "Case Comment",
            "Case Comments",
            "00a",
            [
                *_system_fields(owner=False),
                _reference(
                    "ParentId",
                    "Case",
                    relationship="Parent",
                    children="CaseComments",
                    nillable=False,
                    updateable=False,
                    cascade_delete=True,
                ),
                _long_text("CommentBody", 4000),
                FieldDefinition(
                    "IsPublished",
                    "boolean",
                    nillable=False,
                    defaulted_on_create=True,
                    default_value=False,
                ),
            ],
        ),
        ObjectDefinition(
            "FeedItem",
            "Feed Item",
            "Feed Items",
            "0D5",
            [
                *_system_fields(owner=False),
                _reference(
                    "ParentId",
                    *_PARENT_TARGETS,
                    relationship="Parent",
                    children="Feeds",
                    nillable=False,
                    updateable=False,
                    cascade_delete=True,
                ),
                _long_text("Body", 10000),
                _text("Title"),
                FieldDefinition(
                    "Type",
                    "picklist",
                    length=40,
                    nillable=True,
                    defaulted_on_create=True,
                    restricted_picklist=True,
                    updateable=False,
                    picklist=_picklist("TextPost", "LinkPost", "ContentPost", default="TextPost"),
                ),
                FieldDefinition(
                    "IsRichText",
                    "boolean",
                    nillable=False,
                    defaulted_on_create=True,
                    default_value=False,
                ),
            ],
        ),
        ObjectDefinition(
            "ContentDocument",
            "Content Document",
            "Content Documents",
            "069",
            [
                *_system_fields(),
                _text("Title", nillable=False, name_field=True),
                _read_only("FileExtension", "string", length=40),
                _read_only("FileType", "string", length=20),
                _read_only("ContentSize", "int"),
                FieldDefinition(
                    "LatestPublishedVersionId",
                    "reference",
                    createable=False,
                    updateable=False,
                    reference_to=("ContentVersion",),
                    relationship_name="LatestPublishedVersion",
                ),
            ],
            createable=False,
        ),
        ObjectDefinition(
            "ContentVersion",
            "Content Version",
            "Content Versions",
            "068",
            [
                *_system_fields(),
                _text("Title", nillable=False, defaulted_on_create=True, name_field=True),
                _text("PathOnClient", 500, nillable=False, updateable=False),
                FieldDefinition(
                    "VersionData", "base64", length=0, nillable=False, updateable=False
                ),
                _text("Description", 1000),
                _reference(
                    "FirstPublishLocationId",
                    *_PARENT_TARGETS,
                    relationship="FirstPublishLocation",
                    children=None,
                    updateable=False,
                ),
                _reference(
                    "ContentDocumentId",
                    "ContentDocument",
                    relationship="ContentDocument",
                    children="ContentVersions",
                    updateable=False,
                    cascade_delete=True,
                ),
                _read_only("FileExtension", "string", length=40),
                _read_only("FileType", "string", length=20),
                _read_only("ContentSize", "int"),
                # MD5 hex of VersionData, as in a real org (read-only, filterable).
                _read_only("Checksum", "string", length=50),
                _read_only("VersionNumber", "string", length=20),
                _read_only(
                    "IsLatest",
                    "boolean",
                    nillable=False,
                    defaulted_on_create=True,
                    default_value=True,
                ),
            ],
            deletable=False,
        ),
        ObjectDefinition(
            "ContentDocumentLink",
            "Content Document Link",
            "Content Document Links",
            "06A",
            [
                *_system_fields(owner=False),
                _reference(
                    "ContentDocumentId",
                    "ContentDocument",
                    relationship="ContentDocument",
                    children="ContentDocumentLinks",
                    nillable=False,
                    updateable=False,
                    cascade_delete=True,
                ),
                _reference(
                    "LinkedEntityId",
                    *_PARENT_TARGETS,
                    relationship="LinkedEntity",
                    children="ContentDocumentLinks",
                    nillable=False,
                    updateable=False,
                    cascade_delete=True,
                ),
                FieldDefinition(
                    "ShareType",
                    "picklist",
                    length=40,
                    restricted_picklist=True,
                    defaulted_on_create=True,
                    picklist=_picklist("V", "C", "I", default="V"),
                ),
                FieldDefinition(
                    "Visibility",
                    "picklist",
                    length=40,
                    restricted_picklist=True,
                    defaulted_on_create=True,
                    picklist=_picklist(
                        "AllUsers", "InternalUsers", "SharedUsers", default="AllUsers"
                    ),
                ),
            ],
            updateable=True,
        ),
        ObjectDefinition(
            "User",
            "User",
            "Users",
            "005",
            [
                *_system_fields(owner=False),
                _text("Username", 80, nillable=False, unique=True, external_id=False),
                *person_name,
                FieldDefinition("Email", "email", length=128, nillable=False),
                _text("Alias", 8, nillable=False),
                FieldDefinition(
                    "IsActive",
                    "boolean",
                    nillable=False,
                    defaulted_on_create=True,
                    default_value=True,
                ),
                _text("Title", 80),
            ],
            deletable=False,
        ),
    ]
    return Schema(objects)
