"""Attachment sync: Jira attachments ↔ Salesforce Files (ContentVersion linked to the record).

The sync engine reads the issue (with ``attachment_fields()``) or the record (with
``attachment_subqueries()``) once and hands it to :func:`push_attachments` or
:func:`pull_attachments`. Nothing else is read unless there is a file not seen before.

How a file travels: the source's bytes are streamed into a ``SpooledTemporaryFile`` (memory up to
:data:`SPOOL_MEMORY_BYTES`, then disk) while their SHA-256 (and MD5, Salesforce's checksum) is
computed, then streamed from there as a multipart upload. Memory stays flat whatever the file
size:

- Jira → Salesforce: ``GET /rest/api/3/attachment/content/{id}``, then ``POST
  /sobjects/ContentVersion`` as ``multipart/form-data`` (part ``entity_content`` = JSON with
  ``Title``, ``PathOnClient`` and ``FirstPublishLocationId`` = the record, part ``VersionData`` =
  the bytes). Multipart is what lifts Salesforce's cap from 37.5 MB of base64 JSON to 2 GB
  (api-contracts §B.12); ``FirstPublishLocationId`` links the new file to the record in the same
  call.
- Salesforce → Jira: ``GET /sobjects/ContentVersion/{id}/VersionData`` (raw bytes), then ``POST
  /rest/api/3/issue/{id}/attachments`` (multipart part ``file``, ``X-Atlassian-Token: no-check``).

A bulk chunk passes :class:`SharedDownloads`: a Jira attachment of an issue associated with N
records is then downloaded once and uploaded N times; a spool kept for the next record waits on
disk, not in memory.

No duplicates: an :class:`~forcebridge.sync.link_models.AttachmentLink` row per file seen, so a
file is never copied twice and a copy is never copied back. A new file whose SHA-256 equals a file
already linked on the association, or a file of the same size already on the other side (hashed to
confirm), is linked instead of uploaded. Files above the size cap (``max_bytes``, by default
:data:`DEFAULT_MAX_ATTACHMENT_BYTES`) are skipped with "too large (N MB > cap MB)".

Crash safety (DESIGN.md §5; neither upload takes an idempotency key): before each upload a
:class:`~forcebridge.sync.link_models.CopyIntent` (file name, size, SHA-256, MD5) is committed;
the link replaces it after the upload. A sync that finds intents left by a killed worker looks
for those copies first and links the copy instead of uploading it again:

- push: one ContentVersion query by ``FirstPublishLocationId`` for every record concerned; the
  copy is the version with the intent's MD5 as ``Checksum`` and its size (two different files
  with the same name and size are told apart). Only when Salesforce gives no checksum (or the
  intent predates the column) do name and size decide;
- pull: one read of the issue's attachments; Jira reports no checksum, so name and size decide.

A failure on one file is reported in ``skipped`` and does not stop the others, so the links of the
files already copied are kept (the caller commits the session).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import posixpath
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from sqlalchemy import select
from sqlalchemy.orm import Session

from forcebridge.errors import (
    ExternalServiceError,
    ForceBridgeError,
    NeedsAdminAction,
    PayloadTooLarge,
    RateLimited,
)
from forcebridge.jira.client import JiraClient
from forcebridge.models import Association, Connection
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.salesforce.errors import (
    SERVICE as SALESFORCE,
)
from forcebridge.salesforce.errors import (
    error_from_response,
    error_from_transport,
    parse_api_usage,
)
from forcebridge.salesforce.soql import format_soql
from forcebridge.sync.link_models import (
    INTENT_FILE_TO_JIRA,
    INTENT_FILE_TO_SALESFORCE,
    ORIGIN_JIRA,
    ORIGIN_SALESFORCE,
    AttachmentLink,
    CopyIntent,
)

MEGABYTE = 1024 * 1024
DEFAULT_MAX_ATTACHMENT_BYTES = 25 * MEGABYTE
SPOOL_MEMORY_BYTES = 1 * MEGABYTE
DOWNLOAD_CHUNK_BYTES = 64 * 1024
OCTET_STREAM = "application/octet-stream"

_ATTACHMENT_SUBQUERY = (
    "(SELECT Id, ContentDocumentId, ContentDocument.Title, ContentDocument.FileExtension,"
    " ContentDocument.ContentSize, ContentDocument.LatestPublishedVersionId"
    " FROM ContentDocumentLinks)"
)


@dataclass
class AttachmentSyncResult:
    """What one push or pull did with files, by file name.

    ``created``: files uploaded to the other side; ``skipped``: ``(file name, reason)``.
    """

    created: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _SourceFile:
    """A file on one side that is not linked yet."""

    id: str  # Jira attachment id, or Salesforce ContentDocument id
    version_id: str  # Salesforce ContentVersion id ("" for Jira)
    filename: str
    size: int | None
    content_type: str


@dataclass
class _Spooled:
    file: tempfile.SpooledTemporaryFile[bytes]
    sha256: str
    md5: str  # what Salesforce reports as ContentVersion.Checksum
    size: int


def attachment_fields() -> list[str]:
    """Jira fields the single issue read must include for :func:`push_attachments`."""
    return ["attachment"]


def attachment_subqueries(sobject: str) -> list[str]:
    """SOQL child subqueries the single record read must include for :func:`pull_attachments`.

    ``ContentDocumentLinks`` is the same relationship on every object that can hold Files.
    """
    del sobject  # every File-capable object names the relationship the same way
    return [_ATTACHMENT_SUBQUERY]


# -- push: Jira → Salesforce ----------------------------------------------------------------


def push_attachments(
    session: Session,
    *,
    connection: Connection,
    association: Association,
    issue: dict[str, Any],
    jira: JiraClient,
    salesforce: SalesforceClient,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    record_files: RecordFiles | None = None,
    resolve_document_ids: bool = True,
    downloads: SharedDownloads | None = None,
) -> AttachmentSyncResult:
    """Upload the issue's new attachments to the associated record as Salesforce Files.

    A bulk chunk passes ``record_files`` (the Files of all its records, read with one query
    when first needed), ``downloads`` (each attachment downloaded once for the whole chunk) and
    ``resolve_document_ids=False``, then resolves the new ContentDocument ids of the whole chunk
    with one :func:`resolve_document_ids_of` call.
    """
    result = AttachmentSyncResult()
    adopted = adopt_salesforce_uploads(session, salesforce, [association])
    result.created.extend(adopted.get(association.id, []))
    links = _links(session, association)
    known = {link.jira_attachment_id for link in links}
    new_files = [file for file in _jira_files(issue) if file.id not in known]
    if not new_files:
        return result
    if not connection.sync_attachments:
        result.skipped.extend((file.filename, _SYNC_OFF) for file in new_files)
        return result

    by_hash = {link.sha256: link for link in links}
    existing = _LazyTargets(
        (lambda: record_files.of(association.salesforce_id))
        if record_files is not None
        else (lambda: _salesforce_files_of_record(salesforce, association)),
        {link.salesforce_document_id for link in links},
    )
    new_links: list[AttachmentLink] = []
    for source in new_files:
        too_large = _too_large(source.size, max_bytes)
        if too_large:
            result.skipped.append((source.filename, too_large))
            continue
        try:
            download = (
                downloads.spooled(source.id, max_bytes)
                if downloads is not None
                else _spool(jira.download_attachment(source.id), max_bytes)
            )
            with download as spooled:
                match = by_hash.get(spooled.sha256)
                if match is not None:
                    new_links.append(
                        _link(session, association, ORIGIN_JIRA, source.id, match, spooled, source)
                    )
                    result.skipped.append(
                        (source.filename, f"same content as {match.filename}, already synced")
                    )
                    continue
                present = _find_same_file(
                    existing.candidates(spooled.size),
                    spooled.sha256,
                    lambda target: _salesforce_download(salesforce, target.version_id),
                    max_bytes,
                )
                if present is not None:
                    existing.claim(present)
                    link = _add_link(
                        session,
                        association,
                        ORIGIN_JIRA,
                        jira_id=source.id,
                        document_id=present.id,
                        version_id=present.version_id,
                        spooled=spooled,
                        filename=source.filename,
                    )
                    by_hash[spooled.sha256] = link
                    result.skipped.append(
                        (source.filename, f"already in Salesforce as {present.filename}")
                    )
                    continue
                intent = _record_intent(
                    session, association, INTENT_FILE_TO_SALESFORCE, source, spooled
                )
                try:
                    version_id = _upload_content_version(
                        salesforce, association.salesforce_id, source, spooled
                    )
                except ForceBridgeError as error:
                    if not may_have_landed(error):
                        session.delete(intent)
                    raise
                session.delete(intent)
        except ForceBridgeError as error:
            result.skipped.append((source.filename, _failure(error)))
            continue
        # Linked at once (so a second file with the same bytes in this push is not uploaded
        # again); the ContentDocument id is filled in below, with one query for every upload.
        link = _add_link(
            session,
            association,
            ORIGIN_JIRA,
            jira_id=source.id,
            document_id=version_id,
            version_id=version_id,
            spooled=spooled,
            filename=source.filename,
        )
        by_hash[spooled.sha256] = link
        new_links.append(link)
        result.created.append(source.filename)

    uploaded_versions = [
        link.salesforce_version_id
        for link in new_links
        if link.salesforce_document_id == link.salesforce_version_id
    ]
    if uploaded_versions and resolve_document_ids:
        documents = _content_document_ids(salesforce, list(dict.fromkeys(uploaded_versions)))
        for link in new_links:
            # Without a document id (a failed lookup) the version id stays: pull matches either.
            link.salesforce_document_id = documents.get(
                link.salesforce_document_id, link.salesforce_document_id
            )
    session.flush()
    return result


def _jira_files(issue: Mapping[str, Any]) -> list[_SourceFile]:
    files = []
    for raw in (issue.get("fields") or {}).get("attachment") or []:
        if not isinstance(raw, dict) or not raw.get("id"):
            continue
        filename = str(raw.get("filename") or f"attachment-{raw['id']}")
        size = raw.get("size")
        files.append(
            _SourceFile(
                id=str(raw["id"]),
                version_id="",
                filename=filename,
                size=size if isinstance(size, int) else None,
                content_type=str(raw.get("mimeType") or _guess_type(filename)),
            )
        )
    return files


def _salesforce_files_of_record(
    salesforce: SalesforceClient, association: Association
) -> list[_SourceFile]:
    soql = format_soql(
        "SELECT ContentDocumentId, ContentDocument.Title, ContentDocument.FileExtension,"
        " ContentDocument.ContentSize, ContentDocument.LatestPublishedVersionId"
        " FROM ContentDocumentLink WHERE LinkedEntityId = {}",
        association.salesforce_id,
    )
    files = (_salesforce_file(row) for row in salesforce.query(soql))
    return [file for file in files if file is not None]


class RecordFiles:
    """The Files linked to a set of records (a bulk chunk's), read with one query when first
    needed: the same-content check of every association of the chunk shares it."""

    def __init__(self, salesforce: SalesforceClient, record_ids: Iterable[str]) -> None:
        self._salesforce = salesforce
        self._record_ids = sorted(set(record_ids))
        self._files: dict[str, list[_SourceFile]] | None = None

    def of(self, record_id: str) -> list[_SourceFile]:
        if self._files is None:
            self._files = {}
            soql = format_soql(
                "SELECT LinkedEntityId, ContentDocumentId, ContentDocument.Title,"
                " ContentDocument.FileExtension, ContentDocument.ContentSize,"
                " ContentDocument.LatestPublishedVersionId"
                " FROM ContentDocumentLink WHERE LinkedEntityId IN {}",
                self._record_ids,
            )
            for row in self._salesforce.query(soql):
                file = _salesforce_file(row)
                if file is not None:
                    self._files.setdefault(str(row.get("LinkedEntityId")), []).append(file)
        return list(self._files.get(record_id, []))


def resolve_document_ids_of(
    session: Session, salesforce: SalesforceClient, association_ids: list[str]
) -> None:
    """Fill in the ContentDocument id of uploads linked by their ContentVersion id only.

    One query for every such link of ``association_ids`` (none when there is none).
    """
    pending = list(
        session.scalars(
            select(AttachmentLink).where(
                AttachmentLink.association_id.in_(association_ids),
                AttachmentLink.salesforce_document_id == AttachmentLink.salesforce_version_id,
            )
        )
    )
    if not pending:
        return
    documents = _content_document_ids(
        salesforce, sorted({link.salesforce_version_id for link in pending})
    )
    for link in pending:
        link.salesforce_document_id = documents.get(
            link.salesforce_version_id, link.salesforce_document_id
        )
    session.flush()


def _upload_content_version(
    salesforce: SalesforceClient, record_id: str, source: _SourceFile, spooled: _Spooled
) -> str:
    title, _ = posixpath.splitext(source.filename)
    entity = {
        "Title": title or source.filename,
        "PathOnClient": source.filename,
        "FirstPublishLocationId": record_id,
    }
    spooled.file.seek(0)
    response = salesforce_request(
        salesforce,
        "POST",
        "/sobjects/ContentVersion",
        files={
            "entity_content": (None, json.dumps(entity).encode("utf-8"), "application/json"),
            "VersionData": (source.filename, spooled.file, source.content_type),
        },
    )
    created = _json_object(response)
    version_id = created.get("id")
    if not isinstance(version_id, str):
        raise ExternalServiceError(
            "Salesforce created a ContentVersion without returning its id", service=SALESFORCE
        )
    return version_id


def _content_document_ids(salesforce: SalesforceClient, version_ids: list[str]) -> dict[str, str]:
    """ContentVersion id → ContentDocument id, in one query for every upload of this sync."""
    soql = format_soql(
        "SELECT Id, ContentDocumentId FROM ContentVersion WHERE Id IN {}", version_ids
    )
    try:
        return {
            str(row["Id"]): str(row["ContentDocumentId"])
            for row in salesforce.query(soql)
            if row.get("Id") and row.get("ContentDocumentId")
        }
    except ForceBridgeError:
        return {}


# -- pull: Salesforce → Jira ----------------------------------------------------------------


def pull_attachments(
    session: Session,
    *,
    connection: Connection,
    association: Association,
    record: dict[str, Any],
    jira: JiraClient,
    salesforce: SalesforceClient,
    max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> AttachmentSyncResult:
    """Upload the record's new Salesforce Files to the associated Jira issue as attachments."""
    result = AttachmentSyncResult()
    _adopt_jira_uploads(session, jira, association, result)
    links = _links(session, association)
    known = {link.salesforce_document_id for link in links} | {
        link.salesforce_version_id for link in links
    }
    new_files = [
        file
        for file in _record_files(record)
        if file.id not in known and file.version_id not in known
    ]
    if not new_files:
        return result
    if not connection.sync_attachments:
        result.skipped.extend((file.filename, _SYNC_OFF) for file in new_files)
        return result

    by_hash = {link.sha256: link for link in links}
    existing = _LazyTargets(
        lambda: _jira_files(_issue_attachments(jira, association)),
        {link.jira_attachment_id for link in links},
    )
    for source in new_files:
        too_large = _too_large(source.size, max_bytes)
        if too_large:
            result.skipped.append((source.filename, too_large))
            continue
        try:
            with _spool(_salesforce_download(salesforce, source.version_id), max_bytes) as spooled:
                match = by_hash.get(spooled.sha256)
                if match is not None:
                    _link(
                        session, association, ORIGIN_SALESFORCE, source.id, match, spooled, source
                    )
                    result.skipped.append(
                        (source.filename, f"same content as {match.filename}, already synced")
                    )
                    continue
                present = _find_same_file(
                    existing.candidates(spooled.size),
                    spooled.sha256,
                    lambda target: jira.download_attachment(target.id),
                    max_bytes,
                )
                if present is not None:
                    existing.claim(present)
                    jira_id = present.id
                    result.skipped.append(
                        (source.filename, f"already in Jira as {present.filename}")
                    )
                else:
                    intent = _record_intent(
                        session, association, INTENT_FILE_TO_JIRA, source, spooled
                    )
                    spooled.file.seek(0)
                    try:
                        attachments = jira.add_attachment(
                            association.jira_issue_id,
                            source.filename,
                            spooled.file,
                            source.content_type,
                        )
                    except ForceBridgeError as error:
                        if not may_have_landed(error):
                            session.delete(intent)
                        raise
                    if not attachments or not attachments[0].get("id"):
                        raise ExternalServiceError(
                            "Jira accepted an attachment without returning its id", service="jira"
                        )
                    session.delete(intent)
                    jira_id = str(attachments[0]["id"])
                    result.created.append(source.filename)
        except ForceBridgeError as error:
            result.skipped.append((source.filename, _failure(error)))
            continue
        link = _add_link(
            session,
            association,
            ORIGIN_SALESFORCE,
            jira_id=jira_id,
            document_id=source.id,
            version_id=source.version_id,
            spooled=spooled,
            filename=source.filename,
        )
        by_hash[spooled.sha256] = link
    session.flush()
    return result


def _record_files(record: Mapping[str, Any]) -> list[_SourceFile]:
    children = record.get("ContentDocumentLinks") or {}
    files = []
    for row in children.get("records") or []:
        file = _salesforce_file(row) if isinstance(row, dict) else None
        if file is not None:
            files.append(file)
    return files


def _salesforce_file(row: Mapping[str, Any]) -> _SourceFile | None:
    document = row.get("ContentDocument") or {}
    document_id = row.get("ContentDocumentId")
    version_id = document.get("LatestPublishedVersionId")
    if not isinstance(document_id, str) or not isinstance(version_id, str):
        return None
    title = str(document.get("Title") or document_id)
    extension = str(document.get("FileExtension") or "")
    # Title is the name without its extension (Salesforce keeps that in FileExtension).
    filename = (
        title
        if not extension or title.lower().endswith("." + extension.lower())
        else (f"{title}.{extension}")
    )
    size = document.get("ContentSize")
    return _SourceFile(
        id=document_id,
        version_id=version_id,
        filename=filename,
        size=size if isinstance(size, int) else None,
        content_type=_guess_type(filename),
    )


def _issue_attachments(jira: JiraClient, association: Association) -> dict[str, Any]:
    return jira.get_issue(association.jira_issue_id, fields=["attachment"])


# -- crash safety: intents recorded before an upload ----------------------------------------


def may_have_landed(error: ForceBridgeError) -> bool:
    """Whether a create that failed with ``error`` may still have been carried out.

    A timeout, a dropped connection, a 5xx or an answer we could not read can come after the
    vendor stored the record; a refusal (a 4xx other than 408: invalid, permissions, rate limit
    before any work) cannot, and neither can an error raised before the call.
    """
    if isinstance(error, RateLimited | NeedsAdminAction):
        return False
    if isinstance(error, ExternalServiceError):
        status = error.status
        return status is None or status >= 500 or status == 408
    return False


def _record_intent(
    session: Session, association: Association, kind: str, source: _SourceFile, spooled: _Spooled
) -> CopyIntent:
    intent = CopyIntent(
        association_id=association.id,
        kind=kind,
        source_id=source.id,
        source_version_id=source.version_id,
        target_object="ContentVersion" if kind == INTENT_FILE_TO_SALESFORCE else "jira",
        copy_fingerprint=spooled.sha256,
        copy_checksum=spooled.md5,
        filename=source.filename[:255],
        size=spooled.size,
    )
    session.add(intent)
    session.commit()  # the intent must outlive a crash during the upload
    return intent


def _pending_intents(session: Session, association_ids: list[str], kind: str) -> list[CopyIntent]:
    return list(
        session.scalars(
            select(CopyIntent)
            .where(CopyIntent.association_id.in_(association_ids), CopyIntent.kind == kind)
            .order_by(CopyIntent.created_at, CopyIntent.id)
        )
    )


def adopt_salesforce_uploads(
    session: Session, salesforce: SalesforceClient, associations: list[Association]
) -> dict[str, list[str]]:
    """Resolve the upload intents a killed push left on ``associations``.

    One ContentVersion query for all of them (``FirstPublishLocationId IN (...)``), and none
    when there is no intent. A version of the intent's record, not linked yet, with the intent's
    size and MD5 as ``Checksum`` is the copy: it is linked. The file name is no proof (two
    screenshots of the same size share it); it decides only when Salesforce returns no checksum
    or the intent has none (written before checksums were recorded). Returns the adopted file
    names by association id.
    """
    intents = _pending_intents(
        session, [association.id for association in associations], INTENT_FILE_TO_SALESFORCE
    )
    if not intents:
        return {}
    record_of = {association.id: association.salesforce_id for association in associations}
    linked = set(
        session.scalars(
            select(AttachmentLink.salesforce_version_id).where(
                AttachmentLink.association_id.in_({intent.association_id for intent in intents})
            )
        )
    )
    soql = format_soql(
        "SELECT Id, ContentDocumentId, FirstPublishLocationId, PathOnClient, ContentSize,"
        " Checksum FROM ContentVersion WHERE FirstPublishLocationId IN {}"
        " ORDER BY CreatedDate, Id",
        sorted({record_of[intent.association_id] for intent in intents}),
    )
    # Unlinked versions by (record, size): the only candidates an intent can have.
    versions: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in salesforce.query(soql):
        if row.get("Id") in linked:
            continue
        key = (str(row.get("FirstPublishLocationId")), int(row.get("ContentSize") or 0))
        versions.setdefault(key, []).append(row)
    adopted: dict[str, list[str]] = {}
    for intent in intents:
        session.delete(intent)
        candidates = versions.get((record_of[intent.association_id], intent.size), [])
        copy = _copy_of(intent, candidates)
        if copy is None:
            continue  # the upload never landed: the file is uploaded again
        candidates.remove(copy)
        session.add(
            AttachmentLink(
                association_id=intent.association_id,
                origin=ORIGIN_JIRA,
                jira_attachment_id=intent.source_id,
                salesforce_document_id=str(copy.get("ContentDocumentId") or copy["Id"]),
                salesforce_version_id=str(copy["Id"]),
                filename=intent.filename,
                size=intent.size,
                sha256=intent.copy_fingerprint,
            )
        )
        adopted.setdefault(intent.association_id, []).append(intent.filename)
    session.flush()
    return adopted


def _copy_of(intent: CopyIntent, candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The version among ``candidates`` (same record and size) that is the intent's upload.

    By checksum when both sides have one (the same name wins a tie: several uploads of the same
    bytes); by name only when a side has none.
    """
    by_name: dict[str, Any] | None = None
    by_checksum: dict[str, Any] | None = None
    for row in candidates:
        checksum = row.get("Checksum")
        same_name = row.get("PathOnClient") == intent.filename
        if not checksum or not intent.copy_checksum:
            if same_name and by_name is None:
                by_name = row
        elif str(checksum).lower() == intent.copy_checksum:
            if same_name:
                return row
            if by_checksum is None:
                by_checksum = row
    return by_checksum or by_name


def _adopt_jira_uploads(
    session: Session, jira: JiraClient, association: Association, result: AttachmentSyncResult
) -> None:
    """Resolve the upload intents a killed pull left: one read of the issue's attachments.

    Jira's attachment metadata has no checksum, so the copy is the unlinked attachment with the
    intent's file name and size (reading the bytes back to compare would cost a download each).
    """
    intents = _pending_intents(session, [association.id], INTENT_FILE_TO_JIRA)
    if not intents:
        return
    linked = {link.jira_attachment_id for link in _links(session, association)}
    on_issue: dict[tuple[str, int], list[str]] = {}
    for file in _jira_files(_issue_attachments(jira, association)):
        if file.id not in linked:
            on_issue.setdefault((file.filename, file.size or 0), []).append(file.id)
    for intent in intents:
        session.delete(intent)
        found = on_issue.get((intent.filename, intent.size))
        if not found:
            continue
        session.add(
            AttachmentLink(
                association_id=association.id,
                origin=ORIGIN_SALESFORCE,
                jira_attachment_id=found.pop(0),
                salesforce_document_id=intent.source_id,
                salesforce_version_id=intent.source_version_id,
                filename=intent.filename,
                size=intent.size,
                sha256=intent.copy_fingerprint,
            )
        )
        result.created.append(intent.filename)
    session.flush()


# -- Salesforce HTTP the client does not offer ----------------------------------------------


def salesforce_request(
    salesforce: SalesforceClient, method: str, path: str, **kwargs: Any
) -> httpx2.Response:
    """One call to the org's REST API (``path`` after ``/services/data/vXX.X``), classified.

    For the calls :class:`SalesforceClient` does not offer (multipart blob insert, collections
    create). It goes through the client's own HTTP client, so auth, the URL guard and metering
    apply, and it keeps :attr:`SalesforceClient.api_usage` current.
    """
    http: httpx2.Client = salesforce._http
    try:
        response = http.request(method, _data_path(salesforce, path), **kwargs)
    except httpx2.TransportError as exc:
        raise error_from_transport(exc) from None
    _observe_usage(salesforce, response)
    if response.is_error:
        raise error_from_response(response)
    return response


def _salesforce_download(salesforce: SalesforceClient, version_id: str) -> Iterator[bytes]:
    """The bytes of a ContentVersion, streamed (``GET .../ContentVersion/{id}/VersionData``)."""
    if not version_id.isalnum():
        raise ExternalServiceError(f"{version_id!r} is not a ContentVersion id", service=SALESFORCE)
    http: httpx2.Client = salesforce._http
    path = _data_path(salesforce, f"/sobjects/ContentVersion/{version_id}/VersionData")
    try:
        with http.stream("GET", path) as response:
            _observe_usage(salesforce, response)
            if response.is_error:
                response.read()
                raise error_from_response(response)
            yield from response.iter_bytes(DOWNLOAD_CHUNK_BYTES)
    except httpx2.TransportError as exc:
        raise error_from_transport(exc) from None


def _data_path(salesforce: SalesforceClient, path: str) -> str:
    return f"/services/data/{salesforce.api_version}{path}"


def _observe_usage(salesforce: SalesforceClient, response: httpx2.Response) -> None:
    usage = parse_api_usage(response.headers.get("Sforce-Limit-Info"))
    if usage is not None:
        salesforce.api_usage = usage


def _json_object(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ExternalServiceError(
            f"Salesforce answered {response.request.url.path} without a JSON object",
            service=SALESFORCE,
        )
    return body


# -- shared ---------------------------------------------------------------------------------

_SYNC_OFF = "attachment sync is off for this connection"


class _LazyTargets:
    """Files already on the target side, read at most once per sync and only when needed."""

    def __init__(
        self, read: Callable[[], list[_SourceFile]], already_linked: Iterable[str]
    ) -> None:
        self._read = read
        self._files: list[_SourceFile] | None = None
        # Files already linked (or matched during this sync) stand for something else already.
        self.claimed: set[str] = set(already_linked)

    def candidates(self, size: int) -> list[_SourceFile]:
        if self._files is None:
            self._files = self._read()
        return [f for f in self._files if f.size == size and f.id not in self.claimed]

    def claim(self, file: _SourceFile) -> None:
        self.claimed.add(file.id)


@contextmanager
def _spool(chunks: Iterator[bytes], max_bytes: int) -> Iterator[_Spooled]:
    """Stream ``chunks`` into a temporary file (memory, then disk), hashing as it goes.

    Stops with ``PayloadTooLarge`` past ``max_bytes``: the size announced by the metadata is
    checked first, but the bytes are what count.
    """
    spooled = _spool_open(chunks, max_bytes)
    with spooled.file:
        yield spooled


def _spool_open(chunks: Iterator[bytes], max_bytes: int) -> _Spooled:
    """:func:`_spool` for a spool that outlives the block: the caller closes ``file``."""
    sha256 = hashlib.sha256()
    # Not for security: MD5 is what Salesforce reports as ContentVersion.Checksum.
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    # The caller closes it (a shared download outlives this call).
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
    try:
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(f"too large (more than {_megabytes(max_bytes)} MB cap)")
                sha256.update(chunk)
                md5.update(chunk)
                file.write(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # ends the HTTP stream if we stopped early
    except BaseException:
        file.close()
        raise
    file.seek(0)
    return _Spooled(file=file, sha256=sha256.hexdigest(), md5=md5.hexdigest(), size=size)


class SharedDownloads:
    """Jira attachments downloaded once for several associations (a bulk chunk).

    An issue associated with N records needs each new attachment on N records: it is downloaded
    once, on first need, and the same spool is uploaded to each. ``issues`` holds the issue of
    every association that will be pushed (once per association), which tells how many pushes
    may still need each attachment; the caller reports each push as :meth:`finished`. A
    spool another push may still need is moved to disk (memory stays flat whatever the number of
    files held); the last push closes it. A failed download (too large, Jira down) is not
    retried within the chunk: each push that needs the file reports the same failure.

    Use it as a context manager: leaving closes whatever spool is still held.
    """

    def __init__(self, jira: JiraClient, issues: Iterable[Mapping[str, Any]]) -> None:
        self._jira = jira
        self._pushes_left: dict[str, int] = {}
        for issue in issues:
            for file in _jira_files(issue):
                self._pushes_left[file.id] = self._pushes_left.get(file.id, 0) + 1
        self._spools: dict[str, _Spooled] = {}
        self._failures: dict[str, ForceBridgeError] = {}

    def __enter__(self) -> SharedDownloads:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def spooled(self, attachment_id: str, max_bytes: int) -> Iterator[_Spooled]:
        """The attachment's bytes, downloaded on the first call only, read from the start."""
        spooled = self._spools.get(attachment_id)
        if spooled is None:
            failure = self._failures.get(attachment_id)
            if failure is not None:
                raise failure
            try:
                spooled = _spool_open(self._jira.download_attachment(attachment_id), max_bytes)
            except ForceBridgeError as error:
                self._failures[attachment_id] = error
                raise
            self._spools[attachment_id] = spooled
        spooled.file.seek(0)
        try:
            yield spooled
        finally:
            if self._pushes_left.get(attachment_id, 0) > 1:
                spooled.file.rollover()  # held for another record: on disk, not in memory
            else:
                self._release(attachment_id)

    def finished(self, issue: Mapping[str, Any]) -> None:
        """One push of ``issue`` is over: its attachments have one push fewer to wait for."""
        for file in _jira_files(issue):
            left = self._pushes_left.get(file.id, 0) - 1
            self._pushes_left[file.id] = left
            if left <= 0:
                self._release(file.id)

    def close(self) -> None:
        for attachment_id in list(self._spools):
            self._release(attachment_id)

    def _release(self, attachment_id: str) -> None:
        spooled = self._spools.pop(attachment_id, None)
        if spooled is not None:
            spooled.file.close()


def _find_same_file(
    candidates: Iterable[_SourceFile],
    sha256: str,
    download: Callable[[_SourceFile], Iterator[bytes]],
    max_bytes: int,
) -> _SourceFile | None:
    """A file already on the target side with these bytes (only same-size files are read)."""
    for candidate in candidates:
        digest = hashlib.sha256()
        chunks = download(candidate)
        try:
            size = 0
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    break
                digest.update(chunk)
            else:
                if digest.hexdigest() == sha256:
                    return candidate
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
    return None


def _links(session: Session, association: Association) -> list[AttachmentLink]:
    return list(
        session.scalars(
            select(AttachmentLink)
            .where(AttachmentLink.association_id == association.id)
            .order_by(AttachmentLink.created_at)
        )
    )


def _link(
    session: Session,
    association: Association,
    origin: str,
    source_id: str,
    match: AttachmentLink,
    spooled: _Spooled,
    source: _SourceFile,
) -> AttachmentLink:
    """Link a new source file to the copy of an already-synced file with the same bytes."""
    if origin == ORIGIN_JIRA:
        jira_id, document_id, version_id = (
            source_id,
            match.salesforce_document_id,
            match.salesforce_version_id,
        )
    else:
        jira_id, document_id, version_id = match.jira_attachment_id, source_id, source.version_id
    return _add_link(
        session,
        association,
        origin,
        jira_id=jira_id,
        document_id=document_id,
        version_id=version_id,
        spooled=spooled,
        filename=source.filename,
    )


def _add_link(
    session: Session,
    association: Association,
    origin: str,
    *,
    jira_id: str,
    document_id: str,
    version_id: str,
    spooled: _Spooled,
    filename: str,
) -> AttachmentLink:
    link = AttachmentLink(
        association_id=association.id,
        origin=origin,
        jira_attachment_id=jira_id,
        salesforce_document_id=document_id,
        salesforce_version_id=version_id,
        filename=filename[:255],
        size=spooled.size,
        sha256=spooled.sha256,
    )
    session.add(link)
    return link


def _too_large(size: int | None, max_bytes: int) -> str | None:
    if size is None or size <= max_bytes:
        return None
    return f"too large ({_megabytes(size)} MB > {_megabytes(max_bytes)} MB cap)"


def _megabytes(size: int) -> str:
    return f"{size / MEGABYTE:.1f}".removesuffix(".0")


def _failure(error: ForceBridgeError) -> str:
    if isinstance(error, PayloadTooLarge):
        return error.message
    return f"not copied: {error.message}"


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or OCTET_STREAM
