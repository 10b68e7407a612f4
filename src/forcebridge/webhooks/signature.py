"""Verifying Jira's ``X-Hub-Signature`` on a webhook delivery.

Jira signs admin webhooks that have a secret with HMAC-SHA256 over the **raw** request body and
sends ``X-Hub-Signature: sha256=<lowercase hex>`` (WebSub format; api-contracts.md §A.9). The
check runs on the bytes as received, before any JSON parsing (re-serialised JSON would not match),
compares in constant time with ``hmac.compare_digest``, and accepts any of the connection's valid
secrets (two during a rotation). Other formats (``sha1=``, uppercase hex, no prefix) are refused:
Jira never sends them, so they can only come from someone else.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "X-Hub-Signature"
_PREFIX = "sha256="
_HEX_DIGITS = frozenset("0123456789abcdef")


def sign(secret: str, body: bytes) -> str:
    """The header value Jira would send for ``body`` (also used by tests and the sandbox docs)."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(header_value: str | None, body: bytes, secrets: Sequence[str]) -> bool:
    """True when ``header_value`` is ``sha256=<hex>`` of ``body`` under one of ``secrets``."""
    if not header_value or not header_value.startswith(_PREFIX) or not secrets:
        return False
    provided = header_value[len(_PREFIX) :]
    if len(provided) != 64 or not set(provided) <= _HEX_DIGITS:
        return False
    provided_bytes = provided.encode("ascii")
    valid = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode("ascii")
        # Every secret is checked (no early exit), so timing does not tell which one matched.
        valid |= hmac.compare_digest(expected, provided_bytes)
    return valid
