"""ContentVersion.Checksum: the MD5 hex digest of the file's bytes, computed by the org on every
insert (JSON base64 or multipart), read-only, described and queryable, as in a real org.
"""

from __future__ import annotations

import base64
import hashlib

from fastapi.testclient import TestClient

from .conftest import API, create, query


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_a_json_insert_gets_the_md5_of_its_bytes_as_checksum(client: TestClient) -> None:
    data = b"%PDF-1.4 quarterly numbers"

    version_id = create(
        client,
        "ContentVersion",
        PathOnClient="report.pdf",
        VersionData=base64.b64encode(data).decode(),
    )

    version = client.get(f"{API}/sobjects/ContentVersion/{version_id}").json()
    assert version["Checksum"] == md5_hex(data)


def test_a_multipart_insert_gets_the_md5_of_its_bytes_as_checksum(client: TestClient) -> None:
    data = bytes(range(256)) * 40

    response = client.post(
        f"{API}/sobjects/ContentVersion",
        files={
            "entity_content": (None, '{"PathOnClient": "blob.bin"}', "application/json"),
            "VersionData": ("blob.bin", data, "application/octet-stream"),
        },
    )

    assert response.status_code == 201, response.text
    version = client.get(f"{API}/sobjects/ContentVersion/{response.json()['id']}").json()
    assert version["Checksum"] == md5_hex(data)


def test_files_of_the_same_name_and_size_are_told_apart_by_checksum_in_soql(
    client: TestClient,
) -> None:
    case_id = create(client, "Case", Subject="Two screenshots")
    first, second = b"A" * 64, b"B" * 64
    for data in (first, second):
        create(
            client,
            "ContentVersion",
            PathOnClient="screenshot.png",
            VersionData=base64.b64encode(data).decode(),
            FirstPublishLocationId=case_id,
        )

    rows = query(
        client,
        "SELECT PathOnClient, ContentSize, Checksum FROM ContentVersion"
        f" WHERE FirstPublishLocationId = '{case_id}' AND Checksum = '{md5_hex(second)}'",
    )["records"]

    assert [(row["PathOnClient"], row["ContentSize"], row["Checksum"]) for row in rows] == [
        ("screenshot.png", 64, md5_hex(second))
    ]


def test_checksum_is_described_as_a_read_only_string(client: TestClient) -> None:
    fields = client.get(f"{API}/sobjects/ContentVersion/describe").json()["fields"]

    checksum = next(field for field in fields if field["name"] == "Checksum")

    assert checksum["type"] == "string"
    assert (checksum["createable"], checksum["updateable"]) == (False, False)
    assert checksum["filterable"] is True


def test_a_checksum_sent_by_the_client_is_refused(client: TestClient) -> None:
    response = client.post(
        f"{API}/sobjects/ContentVersion",
        json={
            "PathOnClient": "forged.txt",
            "VersionData": base64.b64encode(b"hello").decode(),
            "Checksum": "00000000000000000000000000000000",
        },
    )

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert response.json()[0]["fields"] == ["Checksum"]
