"""Admin fixtures (an admin user, an authenticated TestClient) come from the shared builders."""

from builders import admin_headers, api

__all__ = ["admin_headers", "api"]
