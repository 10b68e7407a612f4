"""Sign-in, sessions, CSRF and login throttling of the admin UI, through its real forms."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from builders import ADMIN_PASSWORD, ADMIN_USERNAME, create_admin, create_sandbox_connection
from forcebridge.admin.models import EndedUiSession
from forcebridge.admin.ui.sessions import COOKIE_NAME, LOGIN_FAILURE_LIMIT, LoginThrottle
from forcebridge.container import Container
from forcebridge.models import AdminUser, ApiToken
from ui.forms import csrf_token, sign_in


def test_first_run_setup_creates_the_first_admin_and_signs_in(
    client: TestClient, container: Container
) -> None:
    page = client.get("/admin/", follow_redirects=True)
    assert page.url.path == "/admin/setup"
    response = client.post(
        "/admin/setup",
        data={
            "csrf_token": csrf_token(page.text),
            "username": "first-admin",
            "password": "a long enough password",
            "password_again": "a long enough password",
        },
        follow_redirects=True,
    )
    assert response.url.path == "/admin/"
    assert "Admin account first-admin created" in response.text
    with container.session() as db:
        assert db.scalar(select(AdminUser.username)) == "first-admin"


def test_setup_is_closed_once_an_admin_exists(client: TestClient, container: Container) -> None:
    create_admin(container)
    assert client.get("/admin/setup", follow_redirects=False).headers["location"] == "/admin/login"
    page = client.get("/admin/login")
    response = client.post(
        "/admin/setup",
        data={
            "csrf_token": csrf_token(page.text),
            "username": "intruder",
            "password": "a long enough password",
            "password_again": "a long enough password",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    with container.session() as db:
        assert db.scalar(select(func.count()).select_from(AdminUser)) == 1


def test_setup_refuses_a_short_password(client: TestClient, container: Container) -> None:
    page = client.get("/admin/setup")
    response = client.post(
        "/admin/setup",
        data={
            "csrf_token": csrf_token(page.text),
            "username": "admin",
            "password": "short",
            "password_again": "short",
        },
    )
    assert response.status_code == 422
    assert "at least 12 characters" in response.text
    with container.session() as db:
        assert db.scalar(select(func.count()).select_from(AdminUser)) == 0


def test_pages_need_a_signed_in_admin_and_remember_where_to_go(
    client: TestClient, container: Container
) -> None:
    create_admin(container)
    response = client.get("/admin/activity?outcome=failed", follow_redirects=False)
    assert response.status_code == 303
    expected = "/admin/login?next=%2Fadmin%2Factivity%3Foutcome%3Dfailed"
    assert response.headers["location"] == expected
    page = client.get(response.headers["location"])
    signed_in = client.post(
        "/admin/login",
        data={
            "csrf_token": csrf_token(page.text),
            "username": ADMIN_USERNAME,
            "password": ADMIN_PASSWORD,
            "next": "/admin/activity?outcome=failed",
        },
        follow_redirects=False,
    )
    assert signed_in.headers["location"] == "/admin/activity?outcome=failed"


def test_sign_in_never_redirects_to_another_site(client: TestClient, container: Container) -> None:
    create_admin(container)
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={
            "csrf_token": csrf_token(page.text),
            "username": ADMIN_USERNAME,
            "password": ADMIN_PASSWORD,
            "next": "https://evil.example/admin",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/admin/"


def test_a_wrong_password_is_refused(client: TestClient, container: Container) -> None:
    create_admin(container)
    response = sign_in(client, password="not the password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_session_cookie_is_httponly_samesite_lax_and_not_the_admin_id(
    client: TestClient, container: Container
) -> None:
    create_admin(container)
    response = sign_in(client)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http in this test; see the https test below


def test_session_cookie_is_secure_over_https(app: object, container: Container) -> None:
    create_admin(container)
    with TestClient(app, base_url="https://testserver") as secure_client:  # type: ignore[arg-type]
        response = sign_in(secure_client)
    assert "Secure" in response.headers["set-cookie"]


def test_a_form_posted_without_the_csrf_token_is_refused(
    admin_client: TestClient, container: Container, sandbox: object
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    response = admin_client.post(
        f"/admin/connections/{connection.id}/tokens", data={"lifespan": "1h"}
    )
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    with container.session() as db:
        assert db.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_a_form_posted_with_a_wrong_csrf_token_is_refused(
    admin_client: TestClient, container: Container, sandbox: object
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    response = admin_client.post(
        f"/admin/connections/{connection.id}/tokens",
        data={"lifespan": "1h", "csrf_token": "forged-token"},
    )
    assert response.status_code == 403
    with container.session() as db:
        assert db.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_a_form_posted_from_another_origin_is_refused_even_with_the_token(
    admin_client: TestClient, container: Container, sandbox: object
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    page = admin_client.get(f"/admin/connections/{connection.id}/tokens")
    response = admin_client.post(
        f"/admin/connections/{connection.id}/tokens",
        data={"lifespan": "1h", "csrf_token": csrf_token(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_the_sign_in_form_needs_its_csrf_token_too(
    client: TestClient, container: Container
) -> None:
    create_admin(container)
    client.get("/admin/login")
    response = client.post(
        "/admin/login", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 403
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_sign_in_issues_a_new_session_so_a_planted_cookie_is_not_adopted(
    client: TestClient, container: Container
) -> None:
    create_admin(container)
    client.get("/admin/login")
    before = client.cookies[COOKIE_NAME]
    sign_in(client)
    after = client.cookies[COOKIE_NAME]
    assert after != before
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, before, path="/admin")
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session_even_for_a_copied_cookie(
    admin_client: TestClient,
) -> None:
    copied = admin_client.cookies[COOKIE_NAME]
    page = admin_client.get("/admin/")
    assert page.status_code == 200
    response = admin_client.post(
        "/admin/logout", data={"csrf_token": csrf_token(page.text)}, follow_redirects=False
    )
    assert response.headers["location"] == "/admin/login"
    assert admin_client.get("/admin/", follow_redirects=False).status_code == 303
    admin_client.cookies.clear()
    admin_client.cookies.set(COOKIE_NAME, copied, path="/admin")
    assert admin_client.get("/admin/", follow_redirects=False).status_code == 303


def test_sign_out_on_one_serve_process_ends_the_session_on_the_others(
    admin_client: TestClient, container: Container
) -> None:
    """Two ``serve`` processes share the database, not their memory: a second app on the same
    container stands for the other process."""
    from forcebridge.app import create_app

    cookie = admin_client.cookies[COOKIE_NAME]
    with TestClient(create_app(container=container), raise_server_exceptions=False) as other:
        other.cookies.set(COOKIE_NAME, cookie, path="/admin")
        assert other.get("/admin/", follow_redirects=False).status_code == 200
        page = admin_client.get("/admin/")
        admin_client.post("/admin/logout", data={"csrf_token": csrf_token(page.text)})
        assert other.get("/admin/", follow_redirects=False).status_code == 303
    with container.session() as db:
        assert db.scalar(select(func.count()).select_from(EndedUiSession)) == 1


def test_a_tampered_session_cookie_is_ignored(admin_client: TestClient) -> None:
    cookie = admin_client.cookies[COOKIE_NAME]
    admin_client.cookies.clear()
    admin_client.cookies.set(COOKIE_NAME, cookie[:-3] + "abc", path="/admin")
    assert admin_client.get("/admin/", follow_redirects=False).status_code == 303


def test_a_deleted_admin_is_signed_out(admin_client: TestClient, container: Container) -> None:
    with container.session() as db:
        db.delete(db.scalar(select(AdminUser)))
    assert admin_client.get("/admin/", follow_redirects=False).status_code == 303


def test_sign_in_is_throttled_per_username_and_address(
    client: TestClient, container: Container
) -> None:
    create_admin(container)
    create_admin(container, username="other", password=ADMIN_PASSWORD)
    for _ in range(LOGIN_FAILURE_LIMIT):
        assert sign_in(client, password="guess").status_code == 401
    blocked = sign_in(client)  # even the right password waits now
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in blocked.text
    assert sign_in(client, username="other").status_code == 303


def test_throttle_forgets_failures_after_the_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(limit=2, window_seconds=60, clock=lambda: now[0])
    throttle.record_failure("Admin", "10.0.0.1")
    throttle.record_failure("admin", "10.0.0.1")
    assert throttle.retry_after("admin", "10.0.0.1") == 61
    assert throttle.retry_after("admin", "10.0.0.2") == 0
    now[0] += 61
    assert throttle.retry_after("admin", "10.0.0.1") == 0


def test_a_successful_sign_in_clears_the_failures() -> None:
    throttle = LoginThrottle(limit=2, window_seconds=60)
    throttle.record_failure("admin", "ip")
    throttle.record_success("admin", "ip")
    throttle.record_failure("admin", "ip")
    assert throttle.retry_after("admin", "ip") == 0


def test_pages_carry_a_strict_content_security_policy(admin_client: TestClient) -> None:
    response = admin_client.get("/admin/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"
