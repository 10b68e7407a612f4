"""The admin web UI (``/admin/``): server-rendered pages over the same services as the admin API.

``router`` gathers every page; ``STATIC_DIR`` holds the stylesheet and the small script, served
from ``/admin/static`` (nothing is loaded from another site). Pages parse form input, call one
service function and render a template; sessions, CSRF and login throttling live in
:mod:`forcebridge.admin.ui.sessions`.
"""

from __future__ import annotations

from fastapi import APIRouter

from forcebridge.admin.ui import (
    activity_pages,
    association_pages,
    auth_pages,
    connection_pages,
    mapping_pages,
)
from forcebridge.admin.ui.rendering import STATIC_DIR

router = APIRouter()
router.include_router(auth_pages.router)
router.include_router(activity_pages.router)
router.include_router(connection_pages.router)
router.include_router(mapping_pages.router)
router.include_router(association_pages.router)
router.include_router(auth_pages.fallback_router)  # last: it matches every other /admin path

__all__ = ["STATIC_DIR", "router"]
