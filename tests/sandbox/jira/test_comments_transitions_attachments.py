"""Comments, transitions and attachments over REST v2 and v3."""

from __future__ import annotations

import hashlib
import os

from fastapi.testclient import TestClient

from .conftest import adf

NO_CHECK = {"X-Atlassian-Token": "no-check"}


def test_add_comment_v2_takes_a_string_and_answers_201(client: TestClient, auth: dict) -> None:
    response = client.post("/rest/api/2/issue/TEST-1/comment", json={"body": "Hello"}, headers=auth)
    assert response.status_code == 201
    comment = response.json()
    assert comment["body"] == "Hello"
    assert comment["self"].endswith(f"/rest/api/2/issue/10001/comment/{comment['id']}")
    assert comment["author"]["accountId"] == comment["updateAuthor"]["accountId"]


def test_add_comment_v3_requires_adf(client: TestClient, auth: dict) -> None:
    assert (
        client.post(
            "/rest/api/3/issue/TEST-1/comment", json={"body": "plain"}, headers=auth
        ).status_code
        == 400
    )
    response = client.post(
        "/rest/api/3/issue/TEST-1/comment", json={"body": adf("rich")}, headers=auth
    )
    assert response.status_code == 201
    assert response.json()["body"] == adf("rich")


def test_empty_comment_is_rejected(client: TestClient, auth: dict) -> None:
    response = client.post("/rest/api/2/issue/TEST-1/comment", json={"body": ""}, headers=auth)
    assert response.status_code == 400
    assert response.json()["errors"] == {"comment": "Comment body can not be empty!"}


def test_comment_visibility_is_kept_and_validated(client: TestClient, auth: dict) -> None:
    visible = {"type": "role", "value": "Developers"}
    comment = client.post(
        "/rest/api/2/issue/TEST-1/comment", json={"body": "x", "visibility": visible}, headers=auth
    ).json()
    assert (
        comment["visibility"]["type"] == "role" and comment["visibility"]["value"] == "Developers"
    )
    bad = client.post(
        "/rest/api/2/issue/TEST-1/comment",
        json={"body": "x", "visibility": {"type": "team", "value": "a"}},
        headers=auth,
    )
    assert bad.status_code == 400


def test_comment_list_paginates_with_start_at_and_total(client: TestClient, auth: dict) -> None:
    for number in range(3):
        client.post("/rest/api/2/issue/TEST-2/comment", json={"body": f"c{number}"}, headers=auth)
    page = client.get(
        "/rest/api/2/issue/TEST-2/comment", params={"startAt": 1, "maxResults": 1}, headers=auth
    ).json()
    assert page["total"] == 3 and page["startAt"] == 1 and page["maxResults"] == 1
    assert [c["body"] for c in page["comments"]] == ["c1"]
    newest_first = client.get(
        "/rest/api/2/issue/TEST-2/comment", params={"orderBy": "-created"}, headers=auth
    ).json()
    assert newest_first["comments"][0]["body"] == "c2"
    assert (
        client.get(
            "/rest/api/2/issue/TEST-2/comment", params={"orderBy": "author"}, headers=auth
        ).status_code
        == 400
    )


def test_edit_and_delete_a_comment(client: TestClient, auth: dict) -> None:
    comment = client.post(
        "/rest/api/2/issue/TEST-1/comment", json={"body": "draft"}, headers=auth
    ).json()
    url = f"/rest/api/2/issue/TEST-1/comment/{comment['id']}"
    edited = client.put(url, json={"body": "final"}, headers=auth)
    assert edited.status_code == 200 and edited.json()["body"] == "final"
    assert client.delete(url, headers=auth).status_code == 204
    assert client.get(url, headers=auth).status_code == 404


def test_transitions_follow_the_workflow(client: TestClient, auth: dict) -> None:
    available = client.get("/rest/api/2/issue/TEST-1/transitions", headers=auth).json()[
        "transitions"
    ]
    assert {t["name"]: t["to"]["name"] for t in available} == {
        "Start Progress": "In Progress",
        "Done": "Done",
    }
    start = next(t for t in available if t["name"] == "Start Progress")
    # pycontribs/jira sends the id as an int.
    response = client.post(
        "/rest/api/2/issue/TEST-1/transitions",
        json={"transition": {"id": int(start["id"])}},
        headers=auth,
    )
    assert response.status_code == 204
    status = client.get("/rest/api/2/issue/TEST-1", headers=auth).json()["fields"]["status"]
    assert status["name"] == "In Progress" and status["statusCategory"]["key"] == "indeterminate"


def test_invalid_transition_gets_jiras_message(client: TestClient, auth: dict) -> None:
    response = client.post(
        "/rest/api/2/issue/TEST-1/transitions", json={"transition": {"id": "41"}}, headers=auth
    )
    assert response.status_code == 400
    assert response.json()["errorMessages"] == ["Transition id '41' is not valid for this issue."]
    missing = client.post("/rest/api/2/issue/TEST-1/transitions", json={}, headers=auth)
    assert missing.status_code == 400


def test_transition_with_a_comment_adds_it(client: TestClient, auth: dict) -> None:
    body = {"transition": {"id": "21"}, "update": {"comment": [{"add": {"body": "starting"}}]}}
    assert (
        client.post("/rest/api/2/issue/TEST-1/transitions", json=body, headers=auth).status_code
        == 204
    )
    comments = client.get("/rest/api/2/issue/TEST-1/comment", headers=auth).json()["comments"]
    assert comments[-1]["body"] == "starting"


def test_attachment_requires_the_xsrf_header(client: TestClient, auth: dict) -> None:
    response = client.post(
        "/rest/api/3/issue/TEST-1/attachments", files={"file": ("a.txt", b"hi")}, headers=auth
    )
    assert response.status_code == 403
    assert response.json() == {"errorMessages": ["XSRF check failed"], "errors": {}}


def test_attachment_upload_answers_200_with_a_list_and_the_bytes_come_back(
    client: TestClient, auth: dict
) -> None:
    response = client.post(
        "/rest/api/3/issue/TEST-1/attachments",
        files=[
            ("file", ("notes.txt", b"hello world", "application/octet-stream")),
            ("file", ("b.png", b"\x89PNG", "image/png")),
        ],
        headers={**auth, **NO_CHECK},
    )
    assert response.status_code == 200
    first, second = response.json()
    assert (
        first["filename"] == "notes.txt"
        and first["size"] == 11
        and first["mimeType"] == "text/plain"
    )
    assert second["mimeType"] == "image/png"
    content = client.get(first["content"].replace("http://testserver", ""), headers=auth)
    assert content.status_code == 200 and content.content == b"hello world"
    metadata = client.get(f"/rest/api/3/attachment/{first['id']}", headers=auth).json()
    assert metadata["id"] == int(first["id"]) and metadata["size"] == 11
    fields = client.get(
        "/rest/api/3/issue/TEST-1", params={"fields": "attachment"}, headers=auth
    ).json()["fields"]
    assert [a["filename"] for a in fields["attachment"]] == ["notes.txt", "b.png"]


def test_attachment_without_file_part_or_multipart_is_rejected(
    client: TestClient, auth: dict
) -> None:
    response = client.post(
        "/rest/api/3/issue/TEST-1/attachments",
        files={"other": ("a.txt", b"x")},
        headers={**auth, **NO_CHECK},
    )
    assert response.status_code == 400
    response = client.post(
        "/rest/api/3/issue/TEST-1/attachments", json={"x": 1}, headers={**auth, **NO_CHECK}
    )
    assert response.status_code == 415


def test_large_attachment_round_trips_byte_for_byte(client: TestClient, auth: dict) -> None:
    payload = os.urandom(8 * 1024 * 1024)
    response = client.post(
        "/rest/api/3/issue/TEST-2/attachments",
        files={"file": ("big.bin", payload)},
        headers={**auth, **NO_CHECK},
    )
    assert response.status_code == 200
    attachment = response.json()[0]
    assert attachment["size"] == len(payload)
    downloaded = client.get(f"/rest/api/3/attachment/content/{attachment['id']}", headers=auth)
    assert hashlib.sha256(downloaded.content).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_deleting_an_attachment_removes_metadata_and_content(
    client: TestClient, auth: dict
) -> None:
    attachment = client.post(
        "/rest/api/3/issue/TEST-1/attachments",
        files={"file": ("a.txt", b"x")},
        headers={**auth, **NO_CHECK},
    ).json()[0]
    assert (
        client.delete(f"/rest/api/3/attachment/{attachment['id']}", headers=auth).status_code == 204
    )
    assert client.get(f"/rest/api/3/attachment/{attachment['id']}", headers=auth).status_code == 404
    assert (
        client.get(f"/rest/api/3/attachment/content/{attachment['id']}", headers=auth).status_code
        == 404
    )


def test_fifty_megabyte_attachment_streams_through_without_being_held_in_memory(
    jira, server_url: str, auth: dict, tmp_path
) -> None:
    import tracemalloc

    import httpx2

    size = 50 * 1024 * 1024
    source = tmp_path / "big.bin"
    with source.open("wb") as sink:
        for _ in range(50):
            sink.write(os.urandom(1024 * 1024))
    tracemalloc.start()
    try:
        with (
            httpx2.Client(base_url=server_url, headers=auth, timeout=120) as http,
            source.open("rb") as body,
        ):
            uploaded = http.post(
                "/rest/api/3/issue/TEST-3/attachments",
                files={"file": ("big.bin", body, "application/octet-stream")},
                headers=NO_CHECK,
            )
            assert uploaded.status_code == 200, uploaded.text
            attachment = uploaded.json()[0]
            assert attachment["size"] == size
            digest = hashlib.sha256()
            with http.stream(
                "GET", f"/rest/api/3/attachment/content/{attachment['id']}"
            ) as download:
                assert download.status_code == 200
                for chunk in download.iter_bytes():
                    digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()
    # Client and server share this process: neither side may hold the file whole.
    assert peak < size / 3, f"peak traced memory {peak / 1e6:.1f} MB"
