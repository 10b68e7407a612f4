"""Helpers of the admin UI tests: reading CSRF tokens and signing in through the real form."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from builders import ADMIN_PASSWORD, ADMIN_USERNAME

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(
    client: TestClient, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD
) -> Any:
    """Post the sign-in form (not following the redirect, so tests see the 303 or the refusal)."""
    page = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page.text), "username": username, "password": password},
        follow_redirects=False,
    )
