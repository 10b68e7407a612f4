"""What a sync reports: per association, the fields written, the problems and the outcome.

These are the values the external API renders (``fieldsWritten``, ``problems``...) and the audit
trail stores. Field values appear only as short previews (see :func:`preview`), never in full.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from forcebridge.errors import ForceBridgeError
from forcebridge.sync.mapping_engine import FieldProblem

if TYPE_CHECKING:
    from forcebridge.sync.context import AssociationRef

OUTCOMES = ("success", "no_change", "partial", "failed", "skipped")
PREVIEW_LENGTH = 200
# Field names that could hold credentials: their values are never stored or shown.
_SECRET_WORDS = ("password", "secret", "token", "apikey", "api_key", "credential")


def preview(field_name: str, value: Any) -> Any:
    """A short, JSON-safe rendering of a value for audit rows and responses."""
    if any(word in field_name.lower() for word in _SECRET_WORDS):
        return "[redacted]"
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1] + "…"


def preview_text(field_name: str, value: Any) -> str | None:
    """:func:`preview` as the text stored in a field's sync state (``None`` stays ``None``)."""
    shown = preview(field_name, value)
    return None if shown is None else str(shown)


@dataclass
class FieldChange:
    """One field written: the target field, the value before (as last synced) and after."""

    field: str
    before: Any
    after: Any

    def to_wire(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass
class Conflict:
    """A field both sides changed since the last sync, and who won."""

    jira_field: str
    salesforce_field: str
    policy: str
    winner: str
    jira_value: Any
    salesforce_value: Any

    def to_wire(self) -> dict[str, Any]:
        return {
            "jiraField": self.jira_field,
            "salesforceField": self.salesforce_field,
            "policy": self.policy,
            "winner": self.winner,
            "jiraValue": self.jira_value,
            "salesforceValue": self.salesforce_value,
        }


@dataclass
class AssociationResult:
    """The result of syncing one association in one direction."""

    association_id: str
    salesforce_object: str
    salesforce_id: str
    jira_issue_id: str
    jira_issue_key: str
    direction: str
    outcome: str = "no_change"
    changes: list[FieldChange] = field(default_factory=list)
    problems: list[FieldProblem] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    error: ForceBridgeError | None = None
    note: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # comments / attachments results

    @classmethod
    def for_association(cls, association: AssociationRef, direction: str) -> AssociationResult:
        """An empty result (``no_change``) naming the association and the direction."""
        return cls(
            association_id=association.id,
            salesforce_object=association.salesforce_object,
            salesforce_id=association.salesforce_id,
            jira_issue_id=association.jira_issue_id,
            jira_issue_key=association.jira_issue_key,
            direction=direction,
        )

    @property
    def fields_written(self) -> list[str]:
        return [change.field for change in self.changes]

    def settle(self) -> None:
        """Derive the outcome from what happened (unless already skipped)."""
        if self.outcome == "skipped":
            return
        wrote = bool(self.changes) or any(
            bool(value.get("created") or value.get("updated"))
            for value in self.extras.values()
            if isinstance(value, dict)
        )
        if self.error is not None:
            self.outcome = "partial" if wrote else "failed"
        elif self.problems:
            # Some fields could not be synced; the others are in sync (written or unchanged).
            self.outcome = "partial"
        else:
            self.outcome = "success" if wrote else "no_change"

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "son": self.salesforce_object,
            "soid": self.salesforce_id,
            "jiraIssueId": self.jira_issue_id,
            "jiraIssueKey": self.jira_issue_key,
            "outcome": self.outcome,
            "fieldsWritten": self.fields_written,
            "changes": [change.to_wire() for change in self.changes],
            "problems": [problem_to_wire(problem) for problem in self.problems],
            "conflicts": [conflict.to_wire() for conflict in self.conflicts],
        }
        if self.note:
            wire["note"] = self.note
        if self.error is not None:
            wire["error"] = error_to_wire(self.error)
        wire.update(self.extras)
        return wire


@dataclass
class SyncReport:
    """Every association a push, pull or sync touched."""

    direction: str
    results: list[AssociationResult] = field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        return {"direction": self.direction, "results": [r.to_wire() for r in self.results]}

    @property
    def message(self) -> str:
        """One sentence a person can read: what changed, or why nothing did."""
        written = sum(len(result.changes) for result in self.results)
        counts = {outcome: 0 for outcome in OUTCOMES}
        for result in self.results:
            counts[result.outcome] += 1
        verb = {"push": "Pushed", "pull": "Pulled", "sync": "Synced"}.get(self.direction, "Synced")
        if not self.results:
            return "Nothing to sync."
        parts = [f"{verb} {written} field value(s) across {len(self.results)} association(s)"]
        details = [f"{n} {outcome.replace('_', ' ')}" for outcome, n in counts.items() if n]
        first_problem = next((p.message for result in self.results for p in result.problems), None)
        first_error = next((r.error.message for r in self.results if r.error), None)
        message = f"{parts[0]} ({', '.join(details)})."
        if first_error:
            message += f" Error: {first_error}"
        elif first_problem:
            message += f" Problem: {first_problem}"
        elif written == 0:
            message += " Nothing changed since the last sync."
        return message


def problem_to_wire(problem: FieldProblem) -> dict[str, Any]:
    return {
        "field": problem.field,
        "value": preview(problem.field, problem.value),
        "message": problem.message,
        "hint": problem.hint,
    }


def error_to_wire(error: ForceBridgeError) -> dict[str, Any]:
    return {"class": type(error).__name__, "message": error.message, "hint": error.hint}
