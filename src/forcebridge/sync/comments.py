"""Comment sync: Jira comments ↔ Salesforce CaseComments (Cases) or Chatter FeedItems (others).

The sync engine reads the issue (with ``comment_fields()``) or the record (with
``comment_subqueries()``) once, then hands the result to :func:`push_comments` or
:func:`pull_comments`; this module adds only the writes, plus a Jira comment page read when an issue
has more comments than Jira embeds in the issue.

Rules (docs/comments-and-attachments.md):

- Each comment is copied once: a :class:`~forcebridge.sync.link_models.CommentLink` row ties the
  original to its copy. A linked copy is never copied back (no echo), whoever edits it, and a
  comment written by ForceBridge's own account on either side is never copied either.
- Edits propagate from the original to the copy: the link keeps a fingerprint of the original's
  text and privacy, and a different fingerprint means an edit.
- The copy's first line names its origin and author (``[From Jira] Alice Smith:``).
- Privacy: a Jira comment is private when it has a ``visibility`` restriction; a CaseComment when
  ``IsPublished`` is false. Private Salesforce comments become Jira comments restricted to the
  project role :data:`PRIVATE_JIRA_VISIBILITY`; private Jira comments become unpublished
  CaseComments. FeedItems carry no privacy flag ForceBridge reads: every post counts as public,
  and a private Jira comment copied to a feed says so in its label. The connection's
  ``comment_privacy`` (all | public | private) picks which comments are synced at all.
- A failure on one comment is reported in ``skipped`` and does not stop the others, so copies
  already made stay linked (the caller commits the session) and are never made twice.
- Crash safety: every copy about to be created is first committed as a
  :class:`~forcebridge.sync.link_models.CopyIntent` (so :func:`push_comments` and
  :func:`pull_comments` commit the caller's session once before creating). A run that finds
  intents left by a killed worker looks for those copies (one query or read) and links them
  instead of creating them again; a run with no intent looks for nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from forcebridge.errors import ForceBridgeError, NotFound
from forcebridge.jira.adf import adf_to_text, text_to_adf
from forcebridge.jira.client import JiraClient
from forcebridge.models import Association, Connection
from forcebridge.salesforce.client import COLLECTION_WRITE_LIMIT, SalesforceClient
from forcebridge.salesforce.soql import format_soql
from forcebridge.sync.attachments import may_have_landed, salesforce_request
from forcebridge.sync.link_models import (
    INTENT_COMMENT_TO_JIRA,
    INTENT_COMMENT_TO_SALESFORCE,
    ORIGIN_JIRA,
    ORIGIN_SALESFORCE,
    CommentLink,
    CopyIntent,
)
from forcebridge.sync.rich_text import html_to_text

CASE_COMMENT = "CaseComment"
FEED_ITEM = "FeedItem"

# Jira Cloud creates the "Administrators" project role in every company-managed project, so a
# restriction to it never fails on an unknown role; admins can see every restricted comment.
PRIVATE_JIRA_VISIBILITY: Mapping[str, str] = {"type": "role", "value": "Administrators"}

# CaseComment.CommentBody holds 4000 bytes; FeedItem.Body 10,000 characters (api-contracts §B.12).
CASE_COMMENT_MAX_BYTES = 4000
FEED_ITEM_MAX_CHARACTERS = 10_000
TRUNCATION_NOTE = "\n[… cut by ForceBridge: the original is longer]"

PRIVACY_SETTINGS = ("all", "public", "private")

# Where a killed run's copies are looked for (CreatedDate order: with two intents of the same
# text, the older copy is adopted first).
_CASE_COMMENT_COPIES = (
    "SELECT Id, ParentId, CommentBody, IsPublished FROM CaseComment"
    " WHERE ParentId IN {} ORDER BY CreatedDate, Id"
)
_FEED_ITEM_COPIES = (
    "SELECT Id, ParentId, Body FROM FeedItem WHERE ParentId IN {} ORDER BY CreatedDate, Id"
)

_CASE_COMMENT_SUBQUERY = (
    "(SELECT Id, CommentBody, IsPublished, CreatedById, CreatedBy.Name, CreatedDate,"
    " LastModifiedDate FROM CaseComments ORDER BY CreatedDate)"
)
# On standard objects the Feeds relationship returns <Object>Feed rows whose ids are FeedItem ids.
_FEED_SUBQUERY = (
    "(SELECT Id, Body, IsRichText, Type, CreatedById, CreatedBy.Name, CreatedDate,"
    " LastModifiedDate FROM Feeds WHERE Type = 'TextPost' ORDER BY CreatedDate)"
)


@dataclass
class CommentSyncResult:
    """What one push or pull did with comments, by the id of the *source* comment.

    ``created``: comments copied for the first time; ``updated``: copies rewritten after an edit;
    ``skipped``: ``(comment id, reason)`` for comments left out on purpose or after a failure.
    """

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Comment:
    """One comment of either side, reduced to what sync compares and copies."""

    id: str
    author_id: str | None
    author_name: str
    text: str
    private: bool

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.text, self.private)


def comment_fields() -> list[str]:
    """Jira fields the single issue read must include for :func:`push_comments`."""
    return ["comment"]


def comment_subqueries(sobject: str) -> list[str]:
    """SOQL child subqueries the single record read must include for :func:`pull_comments`."""
    return [_CASE_COMMENT_SUBQUERY if sobject == "Case" else _FEED_SUBQUERY]


def salesforce_comment_object(sobject: str) -> str:
    """The Salesforce object that holds comments of a record of ``sobject``."""
    return CASE_COMMENT if sobject == "Case" else FEED_ITEM


def fingerprint(text: str, private: bool) -> str:
    """SHA-256 of a comment's text and privacy: what an edit changes."""
    payload = json.dumps([text, private], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# -- push: Jira → Salesforce ----------------------------------------------------------------


@dataclass
class CommentPushPlan:
    """What one association's push will do with comments, decided from the issue already read."""

    association: Association
    target: str  # CaseComment | FeedItem
    result: CommentSyncResult = field(default_factory=CommentSyncResult)
    new_comments: list[_Comment] = field(default_factory=list)
    edits: list[tuple[_Comment, CommentLink]] = field(default_factory=list)


def push_comments(
    session: Session,
    *,
    connection: Connection,
    association: Association,
    issue: dict[str, Any],
    salesforce: SalesforceClient,
    jira_account_id: str,
    jira: JiraClient | None = None,
) -> CommentSyncResult:
    """Copy new and edited Jira comments of ``issue`` to the associated Salesforce record.

    ``issue`` is the issue as read with :func:`comment_fields`. Jira embeds only the first page of
    comments in an issue; when it says there are more, ``jira`` (if given) reads the rest.
    New copies go out in one sObject Collections call per 200, edits likewise. The session is
    committed once before the creates (see :func:`write_comment_pushes`).
    """
    plan = plan_comment_push(
        session,
        connection=connection,
        association=association,
        issue=issue,
        jira_account_id=jira_account_id,
        jira=jira,
    )
    write_comment_pushes(session, salesforce, [plan])
    return plan.result


def plan_comment_push(
    session: Session,
    *,
    connection: Connection,
    association: Association,
    issue: dict[str, Any],
    jira_account_id: str,
    jira: JiraClient | None = None,
) -> CommentPushPlan:
    """Which of ``issue``'s comments are new or edited for ``association`` (no write)."""
    plan = CommentPushPlan(association, salesforce_comment_object(association.salesforce_object))
    result = plan.result
    links = _links_by(session, association, "jira_comment_id")
    copies_for_other_records = _jira_copies_for_other_records(session, association)
    for comment in _jira_comments(issue, association, jira):
        link = links.get(comment.id)
        if link is not None:
            # A copy ForceBridge made is never copied back; an original may have been edited.
            if link.origin == ORIGIN_JIRA and link.jira_fingerprint != comment.fingerprint:
                reason = _edit_reason_to_skip(comment, connection)
                if reason is not None:
                    result.skipped.append((comment.id, reason))
                else:
                    plan.edits.append((comment, link))
            continue
        if comment.id in copies_for_other_records:
            continue  # ForceBridge's copy of a comment on another record of this issue
        reason = _reason_to_skip(comment, connection, own_account_id=jira_account_id)
        if reason is not None:
            result.skipped.append((comment.id, reason))
            continue
        plan.new_comments.append(comment)
    return plan


def write_comment_pushes(
    session: Session, salesforce: SalesforceClient, plans: Sequence[CommentPushPlan]
) -> None:
    """Create and update the planned Salesforce copies of every plan, batched across plans.

    Crash safety (DESIGN.md §5: a create with no idempotency key): each copy about to be created
    is first recorded as a :class:`CopyIntent` and the session is **committed**; the link that
    replaces the intent is written after the create, in the caller's transaction. A run that
    finds intents left by a killed worker first looks for their copies, with one query per
    object for every plan (``ParentId IN (...)``), and adopts what it finds instead of creating
    it again. No query at all when there is no intent.
    """
    _adopt_salesforce_copies(session, salesforce, plans)
    creating = [
        (plan, comment, _salesforce_values(plan.target, plan.association, comment, creating=True))
        for plan in plans
        for comment in plan.new_comments
    ]
    if creating:
        intents = [
            CopyIntent(
                association_id=plan.association.id,
                kind=INTENT_COMMENT_TO_SALESFORCE,
                source_id=comment.id,
                target_object=plan.target,
                source_fingerprint=comment.fingerprint,
                copy_fingerprint=_written_fingerprint(plan.target, record),
            )
            for plan, comment, record in creating
        ]
        session.add_all(intents)
        session.commit()  # the intents must outlive a crash during the create
        for target in dict.fromkeys(plan.target for plan, _, _ in creating):
            batch = [
                (item, intent)
                for item, intent in zip(creating, intents, strict=True)
                if item[0].target == target
            ]
            outcomes = _create_salesforce_records(
                salesforce, target, [record for (_, _, record), _ in batch]
            )
            for ((plan, comment, _), intent), outcome in zip(batch, outcomes, strict=True):
                if outcome.record_id is None:
                    if not outcome.uncertain:
                        session.delete(intent)  # refused: nothing was created
                    plan.result.skipped.append((comment.id, f"not copied: {outcome.error}"))
                    continue
                session.delete(intent)
                session.add(
                    CommentLink(
                        association_id=plan.association.id,
                        origin=ORIGIN_JIRA,
                        jira_comment_id=comment.id,
                        salesforce_comment_id=outcome.record_id,
                        salesforce_comment_object=target,
                        jira_fingerprint=comment.fingerprint,
                        salesforce_fingerprint=intent.copy_fingerprint,
                    )
                )
                plan.result.created.append(comment.id)

    editing = [(plan, comment, link) for plan in plans for comment, link in plan.edits]
    for target in dict.fromkeys(plan.target for plan, _, _ in editing):
        edits = [item for item in editing if item[0].target == target]
        updates = [
            {
                "Id": link.salesforce_comment_id,
                **_salesforce_values(target, plan.association, comment, creating=False),
            }
            for plan, comment, link in edits
        ]
        try:
            saves = salesforce.update_records(target, updates)
        except ForceBridgeError as error:
            saves = [{"success": False, "errors": [{"message": error.message}]} for _ in updates]
        for (plan, comment, link), update, save in zip(edits, updates, saves, strict=True):
            if not save.get("success"):
                plan.result.skipped.append((comment.id, f"edit not copied: {_save_error(save)}"))
                continue
            link.jira_fingerprint = comment.fingerprint
            link.salesforce_fingerprint = _written_fingerprint(target, update)
            plan.result.updated.append(comment.id)
    session.flush()


def _adopt_salesforce_copies(
    session: Session, salesforce: SalesforceClient, plans: Sequence[CommentPushPlan]
) -> None:
    """Resolve the intents a killed run left: adopt each copy found, forget the others."""
    by_association = {plan.association.id: plan for plan in plans}
    intents = list(
        session.scalars(
            select(CopyIntent)
            .where(
                CopyIntent.association_id.in_(list(by_association)),
                CopyIntent.kind == INTENT_COMMENT_TO_SALESFORCE,
            )
            .order_by(CopyIntent.created_at, CopyIntent.id)
        )
    )
    if not intents:
        return
    linked = set(
        session.scalars(
            select(CommentLink.salesforce_comment_id).where(
                CommentLink.association_id.in_({intent.association_id for intent in intents})
            )
        )
    )
    for target in dict.fromkeys(intent.target_object for intent in intents):
        pending = [intent for intent in intents if intent.target_object == target]
        parents = sorted(
            {by_association[intent.association_id].association.salesforce_id for intent in pending}
        )
        soql = format_soql(
            _CASE_COMMENT_COPIES if target == CASE_COMMENT else _FEED_ITEM_COPIES, parents
        )
        copies: dict[tuple[str, str], list[str]] = {}
        for row in salesforce.query(soql):
            row_id, parent = row.get("Id"), row.get("ParentId")
            if not isinstance(row_id, str) or not isinstance(parent, str) or row_id in linked:
                continue
            if target == CASE_COMMENT:
                written = fingerprint(str(row.get("CommentBody") or ""), not row.get("IsPublished"))
            else:
                written = fingerprint(str(row.get("Body") or ""), False)
            copies.setdefault((parent, written), []).append(row_id)
        for intent in pending:
            plan = by_association[intent.association_id]
            found = copies.get((plan.association.salesforce_id, intent.copy_fingerprint))
            session.delete(intent)
            if not found:
                continue  # the create never landed: the comment is created again below
            copy_id = found.pop(0)
            linked.add(copy_id)
            session.add(
                CommentLink(
                    association_id=plan.association.id,
                    origin=ORIGIN_JIRA,
                    jira_comment_id=intent.source_id,
                    salesforce_comment_id=copy_id,
                    salesforce_comment_object=target,
                    jira_fingerprint=intent.source_fingerprint,
                    salesforce_fingerprint=intent.copy_fingerprint,
                )
            )
            plan.result.created.append(intent.source_id)
            plan.new_comments = [c for c in plan.new_comments if c.id != intent.source_id]
    # Deletes before the new intents of the same comments are inserted (unique key).
    session.flush()


def _jira_comments(
    issue: Mapping[str, Any], association: Association, jira: JiraClient | None
) -> list[_Comment]:
    page = (issue.get("fields") or {}).get("comment") or {}
    raw_comments = list(page.get("comments") or [])
    total = page.get("total")
    if jira is not None and isinstance(total, int) and total > len(raw_comments):
        raw_comments = list(jira.comments(association.jira_issue_id))
    comments = []
    for raw in raw_comments:
        if not isinstance(raw, dict) or not raw.get("id"):
            continue
        author = raw.get("author") or {}
        comments.append(
            _Comment(
                id=str(raw["id"]),
                author_id=author.get("accountId"),
                author_name=author.get("displayName") or "a Jira user",
                text=adf_to_text(raw.get("body")).strip(),
                private=bool(raw.get("visibility")),
            )
        )
    return comments


def _salesforce_values(
    target: str, association: Association, comment: _Comment, *, creating: bool
) -> dict[str, Any]:
    if target == CASE_COMMENT:
        body = _fit_bytes(
            _labelled("Jira", comment.author_name, comment.text), CASE_COMMENT_MAX_BYTES
        )
        values: dict[str, Any] = {"CommentBody": body, "IsPublished": not comment.private}
    else:
        origin = "Jira, restricted" if comment.private else "Jira"
        body = _fit_characters(
            _labelled(origin, comment.author_name, comment.text), FEED_ITEM_MAX_CHARACTERS
        )
        values = {"Body": body}
        if creating:
            values.update(Type="TextPost", IsRichText=False)
    if creating:
        values["ParentId"] = association.salesforce_id
    return values


def _written_fingerprint(target: str, values: Mapping[str, Any]) -> str:
    if target == CASE_COMMENT:
        return fingerprint(str(values["CommentBody"]), not values["IsPublished"])
    return fingerprint(str(values["Body"]), False)


@dataclass(frozen=True)
class _CreateOutcome:
    record_id: str | None
    error: str | None = None
    # True when the call failed as a whole (timeout, dropped connection, 5xx): Salesforce may
    # have created the record anyway, so its intent is kept for the next run to look for.
    uncertain: bool = False


def _create_salesforce_records(
    salesforce: SalesforceClient, sobject: str, records: Sequence[Mapping[str, Any]]
) -> list[_CreateOutcome]:
    """Create records 200 per call (``POST /composite/sobjects``, ``allOrNone: false``).

    Returns one outcome per record, in order. The client has no collections create, so this goes
    through its HTTP client (see ``salesforce_request``).
    """
    outcomes: list[_CreateOutcome] = []
    for start in range(0, len(records), COLLECTION_WRITE_LIMIT):
        chunk = records[start : start + COLLECTION_WRITE_LIMIT]
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **record} for record in chunk],
        }
        try:
            response = salesforce_request(salesforce, "POST", "/composite/sobjects", json=body)
            saves = response.json()
            if not isinstance(saves, list) or len(saves) != len(chunk):
                raise ValueError("not one result per record")
        except (ForceBridgeError, ValueError) as error:
            message = error.message if isinstance(error, ForceBridgeError) else str(error)
            uncertain = not isinstance(error, ForceBridgeError) or may_have_landed(error)
            outcomes.extend(_CreateOutcome(None, message, uncertain=uncertain) for _ in chunk)
            continue
        for save in saves:
            record_id = save.get("id") if isinstance(save, dict) else None
            if isinstance(save, dict) and save.get("success") and isinstance(record_id, str):
                outcomes.append(_CreateOutcome(record_id))
            else:
                outcomes.append(_CreateOutcome(None, _save_error(save)))
    return outcomes


def _save_error(save: Any) -> str:
    errors = save.get("errors") if isinstance(save, dict) else None
    messages = [
        f"{item.get('statusCode') or item.get('errorCode') or 'ERROR'}: {item.get('message')}"
        if item.get("statusCode") or item.get("errorCode")
        else str(item.get("message"))
        for item in errors or []
        if isinstance(item, dict)
    ]
    return "; ".join(messages) or "no reason given"


# -- pull: Salesforce → Jira ----------------------------------------------------------------


def pull_comments(
    session: Session,
    *,
    connection: Connection,
    association: Association,
    record: dict[str, Any],
    jira: JiraClient,
    salesforce_user_id: str,
    private_visibility: Mapping[str, str] = PRIVATE_JIRA_VISIBILITY,
) -> CommentSyncResult:
    """Copy new and edited Salesforce comments of ``record`` to the associated Jira issue.

    ``record`` is the row read with :func:`comment_subqueries`. One Jira call per comment copied
    or edited (Jira has no batch comment API); nothing at all when nothing changed.

    Crash safety as for pushes: each Jira comment about to be created is recorded (and the session
    committed) first; intents a killed run left are resolved with one read of the issue's
    comments, adopting a comment whose text and restriction match instead of adding it again.
    """
    result = CommentSyncResult()
    source = salesforce_comment_object(association.salesforce_object)
    _adopt_jira_copies(session, jira, association, source, result)
    links = _links_by(session, association, "salesforce_comment_id")
    for comment in _salesforce_comments(record, source):
        link = links.get(comment.id)
        if link is not None:
            if (
                link.origin == ORIGIN_SALESFORCE
                and link.salesforce_fingerprint != comment.fingerprint
            ):
                reason = _edit_reason_to_skip(comment, connection)
                if reason is not None:
                    result.skipped.append((comment.id, reason))
                else:
                    _edit_jira_copy(jira, association, comment, link, private_visibility, result)
            continue
        reason = _reason_to_skip(comment, connection, own_account_id=salesforce_user_id)
        if reason is not None:
            result.skipped.append((comment.id, reason))
            continue
        text = _labelled("Salesforce", comment.author_name, comment.text)
        visibility = private_visibility if comment.private else None
        intent = CopyIntent(
            association_id=association.id,
            kind=INTENT_COMMENT_TO_JIRA,
            source_id=comment.id,
            target_object="jira",
            source_fingerprint=comment.fingerprint,
            copy_fingerprint=fingerprint(text, comment.private),
        )
        session.add(intent)
        session.commit()  # the intent must outlive a crash during the create
        try:
            created = jira.add_comment(association.jira_issue_id, text_to_adf(text), visibility)
        except ForceBridgeError as error:
            if not may_have_landed(error):
                session.delete(intent)
            result.skipped.append((comment.id, f"not copied: {error.message}"))
            continue
        session.delete(intent)
        session.add(
            CommentLink(
                association_id=association.id,
                origin=ORIGIN_SALESFORCE,
                jira_comment_id=str(created["id"]),
                salesforce_comment_id=comment.id,
                salesforce_comment_object=source,
                jira_fingerprint=intent.copy_fingerprint,
                salesforce_fingerprint=comment.fingerprint,
            )
        )
        result.created.append(comment.id)
    session.flush()
    return result


def _adopt_jira_copies(
    session: Session,
    jira: JiraClient,
    association: Association,
    source: str,
    result: CommentSyncResult,
) -> None:
    """Resolve the pull intents a killed run left: one read of the issue's comments, if any."""
    intents = list(
        session.scalars(
            select(CopyIntent)
            .where(
                CopyIntent.association_id == association.id,
                CopyIntent.kind == INTENT_COMMENT_TO_JIRA,
            )
            .order_by(CopyIntent.created_at, CopyIntent.id)
        )
    )
    if not intents:
        return
    linked = set(
        session.scalars(
            select(CommentLink.jira_comment_id).where(CommentLink.association_id == association.id)
        )
    )
    copies: dict[str, list[str]] = {}
    for raw in jira.comments(association.jira_issue_id):
        comment_id = str(raw.get("id") or "")
        if not comment_id or comment_id in linked:
            continue
        written = fingerprint(adf_to_text(raw.get("body")).strip(), bool(raw.get("visibility")))
        copies.setdefault(written, []).append(comment_id)
    for intent in intents:
        session.delete(intent)
        found = copies.get(intent.copy_fingerprint)
        if not found:
            continue  # the create never landed: the comment is copied again
        session.add(
            CommentLink(
                association_id=association.id,
                origin=ORIGIN_SALESFORCE,
                jira_comment_id=found.pop(0),
                salesforce_comment_id=intent.source_id,
                salesforce_comment_object=source,
                jira_fingerprint=intent.copy_fingerprint,
                salesforce_fingerprint=intent.source_fingerprint,
            )
        )
        result.created.append(intent.source_id)
    session.flush()


def _edit_jira_copy(
    jira: JiraClient,
    association: Association,
    comment: _Comment,
    link: CommentLink,
    private_visibility: Mapping[str, str],
    result: CommentSyncResult,
) -> None:
    text = _labelled("Salesforce", comment.author_name, comment.text)
    # Jira keeps a comment's restriction when an edit sends none, so a comment made public in
    # Salesforce stays restricted in Jira: the safe direction for a privacy change.
    visibility = private_visibility if comment.private else None
    try:
        jira.edit_comment(
            association.jira_issue_id, link.jira_comment_id, text_to_adf(text), visibility
        )
    except NotFound:
        result.skipped.append((comment.id, "its Jira copy was deleted; edit not copied"))
        return
    except ForceBridgeError as error:
        result.skipped.append((comment.id, f"edit not copied: {error.message}"))
        return
    link.salesforce_fingerprint = comment.fingerprint
    link.jira_fingerprint = fingerprint(text, comment.private)
    result.updated.append(comment.id)


def _salesforce_comments(record: Mapping[str, Any], source: str) -> list[_Comment]:
    relationship = "CaseComments" if source == CASE_COMMENT else "Feeds"
    children = record.get(relationship) or {}
    comments = []
    for raw in children.get("records") or []:
        if not isinstance(raw, dict) or not raw.get("Id"):
            continue
        if source == CASE_COMMENT:
            text = str(raw.get("CommentBody") or "")
            private = raw.get("IsPublished") is False
        else:
            if raw.get("Type", "TextPost") != "TextPost":
                continue  # tracked changes, files and links are not conversation
            body = str(raw.get("Body") or "")
            text = html_to_text(body) if raw.get("IsRichText") else body
            private = False
        created_by = raw.get("CreatedBy") or {}
        comments.append(
            _Comment(
                id=str(raw["Id"]),
                author_id=raw.get("CreatedById"),
                author_name=created_by.get("Name") or "a Salesforce user",
                text=text.strip(),
                private=private,
            )
        )
    return comments


# -- shared ---------------------------------------------------------------------------------


def _links_by(session: Session, association: Association, key: str) -> dict[str, CommentLink]:
    links = session.scalars(select(CommentLink).where(CommentLink.association_id == association.id))
    return {getattr(link, key): link for link in links}


def _jira_copies_for_other_records(session: Session, association: Association) -> set[str]:
    """Jira comments ForceBridge wrote for the issue's *other* associations.

    An issue associated with several records gets copies of each record's comments; those are
    neither new comments for this record nor worth a "skipped" line on every push.
    """
    other_associations = select(Association.id).where(
        Association.connection_id == association.connection_id,
        Association.jira_issue_id == association.jira_issue_id,
        Association.id != association.id,
    )
    return set(
        session.scalars(
            select(CommentLink.jira_comment_id).where(
                CommentLink.association_id.in_(other_associations),
                CommentLink.origin == ORIGIN_SALESFORCE,
            )
        )
    )


def _reason_to_skip(
    comment: _Comment, connection: Connection, *, own_account_id: str
) -> str | None:
    if comment.author_id is not None and comment.author_id == own_account_id:
        return "written by ForceBridge's own account"
    if not comment.text:
        return "empty comment"
    return _privacy_reason(comment, connection)


def _edit_reason_to_skip(comment: _Comment, connection: Connection) -> str | None:
    """Why an edit is not copied: emptied, or now filtered out by the privacy setting.

    The copy keeps its last synced text then, so an edit can never leak a comment that was
    made private (or blanked) into the other product.
    """
    if not comment.text:
        return "emptied; edit not copied"
    reason = _privacy_reason(comment, connection)
    return f"{reason}; edit not copied" if reason is not None else None


def _privacy_reason(comment: _Comment, connection: Connection) -> str | None:
    privacy = (
        connection.comment_privacy if connection.comment_privacy in PRIVACY_SETTINGS else "all"
    )
    if privacy == "public" and comment.private:
        return "private comment; the connection syncs public comments only"
    if privacy == "private" and not comment.private:
        return "public comment; the connection syncs private comments only"
    return None


def _labelled(origin: str, author_name: str, text: str) -> str:
    return f"[From {origin}] {author_name}:\n{text}"


def _fit_bytes(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    room = limit - len(TRUNCATION_NOTE.encode("utf-8"))
    # errors="ignore" drops a multi-byte character cut in half at the boundary.
    return encoded[:room].decode("utf-8", errors="ignore") + TRUNCATION_NOTE


def _fit_characters(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_NOTE)] + TRUNCATION_NOTE
