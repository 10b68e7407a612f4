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
from forcebridge.sync.attachments import salesforce_request
from forcebridge.sync.link_models import ORIGIN_JIRA, ORIGIN_SALESFORCE, CommentLink
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
    New copies go out in one sObject Collections call per 200, edits likewise.
    """
    result = CommentSyncResult()
    target = salesforce_comment_object(association.salesforce_object)
    links = _links_by(session, association, "jira_comment_id")
    copies_for_other_records = _jira_copies_for_other_records(session, association)
    new_comments: list[_Comment] = []
    edits: list[tuple[_Comment, CommentLink]] = []
    for comment in _jira_comments(issue, association, jira):
        link = links.get(comment.id)
        if link is not None:
            # A copy ForceBridge made is never copied back; an original may have been edited.
            if link.origin == ORIGIN_JIRA and link.jira_fingerprint != comment.fingerprint:
                reason = _edit_reason_to_skip(comment, connection)
                if reason is not None:
                    result.skipped.append((comment.id, reason))
                else:
                    edits.append((comment, link))
            continue
        if comment.id in copies_for_other_records:
            continue  # ForceBridge's copy of a comment on another record of this issue
        reason = _reason_to_skip(comment, connection, own_account_id=jira_account_id)
        if reason is not None:
            result.skipped.append((comment.id, reason))
            continue
        new_comments.append(comment)

    if new_comments:
        records = [
            _salesforce_values(target, association, comment, creating=True)
            for comment in new_comments
        ]
        outcomes = _create_salesforce_records(salesforce, target, records)
        for comment, record, (record_id, error) in zip(
            new_comments, records, outcomes, strict=True
        ):
            if record_id is None:
                result.skipped.append((comment.id, f"not copied: {error}"))
                continue
            session.add(
                CommentLink(
                    association_id=association.id,
                    origin=ORIGIN_JIRA,
                    jira_comment_id=comment.id,
                    salesforce_comment_id=record_id,
                    salesforce_comment_object=target,
                    jira_fingerprint=comment.fingerprint,
                    salesforce_fingerprint=_written_fingerprint(target, record),
                )
            )
            result.created.append(comment.id)

    if edits:
        updates = [
            {
                "Id": link.salesforce_comment_id,
                **_salesforce_values(target, association, comment, creating=False),
            }
            for comment, link in edits
        ]
        try:
            saves = salesforce.update_records(target, updates)
        except ForceBridgeError as error:
            saves = [{"success": False, "errors": [{"message": error.message}]} for _ in updates]
        for (comment, link), update, save in zip(edits, updates, saves, strict=True):
            if not save.get("success"):
                result.skipped.append((comment.id, f"edit not copied: {_save_error(save)}"))
                continue
            link.jira_fingerprint = comment.fingerprint
            link.salesforce_fingerprint = _written_fingerprint(target, update)
            result.updated.append(comment.id)
    session.flush()
    return result


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


def _create_salesforce_records(
    salesforce: SalesforceClient, sobject: str, records: Sequence[Mapping[str, Any]]
) -> list[tuple[str | None, str | None]]:
    """Create records 200 per call (``POST /composite/sobjects``, ``allOrNone: false``).

    Returns ``(id, None)`` or ``(None, error message)`` per record, in order. The client has no
    collections create, so this goes through its HTTP client (see ``salesforce_request``).
    """
    outcomes: list[tuple[str | None, str | None]] = []
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
            outcomes.extend((None, message) for _ in chunk)
            continue
        for save in saves:
            record_id = save.get("id") if isinstance(save, dict) else None
            if isinstance(save, dict) and save.get("success") and isinstance(record_id, str):
                outcomes.append((record_id, None))
            else:
                outcomes.append((None, _save_error(save)))
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
    """
    result = CommentSyncResult()
    source = salesforce_comment_object(association.salesforce_object)
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
        try:
            created = jira.add_comment(association.jira_issue_id, text_to_adf(text), visibility)
        except ForceBridgeError as error:
            result.skipped.append((comment.id, f"not copied: {error.message}"))
            continue
        session.add(
            CommentLink(
                association_id=association.id,
                origin=ORIGIN_SALESFORCE,
                jira_comment_id=str(created["id"]),
                salesforce_comment_id=comment.id,
                salesforce_comment_object=source,
                jira_fingerprint=fingerprint(text, comment.private),
                salesforce_fingerprint=comment.fingerprint,
            )
        )
        result.created.append(comment.id)
    session.flush()
    return result


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
