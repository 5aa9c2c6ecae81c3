"""The data room: uploads restricted by type and size, documents for buyers only after the NDA."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from marketplace.settings import Settings
from tests.conftest import Backend
from tests.helpers import BANK_A, BANK_B, BUYERS, GUARANTOR, OPERATOR, bearer
from tests.listings.support import Client, clean_listing, org_ids, published_listing

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
MAX_UPLOAD = 4096


@pytest.fixture
def settings(backend: Backend) -> Settings:
    return backend.settings.with_(max_upload_bytes=MAX_UPLOAD)


async def _upload(
    client: Client,
    listing_id: str,
    name: str,
    content: bytes,
    content_type: str,
    *,
    confidential: bool = False,
    email: str = BANK_A,
) -> Any:
    return await client.post(
        f"/api/listings/{listing_id}/documents",
        files={"file": (name, content, content_type)},
        data={"confidential": "true" if confidential else "false"},
        headers=await bearer(client, email),
    )


async def test_buyers_read_the_data_room_only_after_accepting_the_nda(client: Client) -> None:
    orgs = await org_ids(client)
    listing = await published_listing(client, orgs)
    public = await _upload(client, listing["id"], "valuation-summary.pdf", PDF, "application/pdf")
    assert public.status_code == 201, public.text
    assert public.json()["sha256"] == hashlib.sha256(PDF).hexdigest()
    secret = await _upload(
        client, listing["id"], "loan-file.txt", "借款合同摘要".encode(), "text/plain", confidential=True
    )
    assert secret.status_code == 201, secret.text

    buyer = await bearer(client, BUYERS[0])
    refused = await client.get(f"/api/listings/{listing['id']}/documents", headers=buyer)
    assert refused.status_code == 403
    assert refused.json()["code"] == "nda_required"
    download_refused = await client.get(
        f"/api/listings/{listing['id']}/documents/{public.json()['id']}", headers=buyer
    )
    assert download_refused.status_code == 403

    nda = await client.post(f"/api/listings/{listing['id']}/nda", headers=buyer)
    assert nda.status_code == 201
    again = await client.post(f"/api/listings/{listing['id']}/nda", headers=buyer)
    assert again.json()["accepted_at"] == nda.json()["accepted_at"]

    documents = (await client.get(f"/api/listings/{listing['id']}/documents", headers=buyer)).json()
    assert [doc["filename"] for doc in documents] == ["valuation-summary.pdf"]
    download = await client.get(
        f"/api/listings/{listing['id']}/documents/{public.json()['id']}", headers=buyer
    )
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"].startswith("application/pdf")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment")
    hidden = await client.get(f"/api/listings/{listing['id']}/documents/{secret.json()['id']}", headers=buyer)
    assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("email", "count"),
    [
        pytest.param(BANK_A, 2, id="owning-bank"),
        pytest.param(GUARANTOR, 2, id="settlement-party"),
        pytest.param(OPERATOR, 2, id="operator"),
    ],
)
async def test_confidential_viewers_need_no_nda(client: Client, email: str, count: int) -> None:
    orgs = await org_ids(client)
    listing = await published_listing(client, orgs)
    await _upload(client, listing["id"], "a.pdf", PDF, "application/pdf")
    await _upload(client, listing["id"], "b.png", PNG, "image/png", confidential=True)
    documents = await client.get(
        f"/api/listings/{listing['id']}/documents", headers=await bearer(client, email)
    )
    assert len(documents.json()) == count


async def test_the_data_room_of_a_draft_is_hidden_and_anonymous_callers_must_sign_in(client: Client) -> None:
    orgs = await org_ids(client)
    draft, _ = await clean_listing(client, orgs)
    buyer = await bearer(client, BUYERS[1])
    assert (await client.post(f"/api/listings/{draft['id']}/nda", headers=buyer)).status_code == 404
    assert (await client.get(f"/api/listings/{draft['id']}/documents", headers=buyer)).status_code == 404
    assert (await client.get(f"/api/listings/{draft['id']}/documents")).status_code == 401


@pytest.mark.parametrize(
    ("name", "content", "content_type", "status", "code"),
    [
        pytest.param(
            "tool.exe", b"MZ\x90\x00", "application/octet-stream", 415, "unsupported_file_type", id="exe"
        ),
        pytest.param("page.html", b"<html></html>", "text/html", 415, "unsupported_file_type", id="html"),
        pytest.param(
            "fake.pdf", b"<script>", "application/pdf", 415, "unsupported_file_type", id="pdf-in-name-only"
        ),
        pytest.param("photo.png", PDF, "image/png", 415, "unsupported_file_type", id="png-that-is-a-pdf"),
        pytest.param(
            "note.txt", b"\x00\x01\x02", "text/plain", 415, "unsupported_file_type", id="binary-text"
        ),
        pytest.param(
            "big.pdf", PDF + b"0" * MAX_UPLOAD, "application/pdf", 413, "file_too_large", id="too-large"
        ),
    ],
)
async def test_forbidden_uploads_are_refused_with_a_code(
    client: Client, name: str, content: bytes, content_type: str, status: int, code: str
) -> None:
    orgs = await org_ids(client)
    draft, _ = await clean_listing(client, orgs)
    response = await _upload(client, draft["id"], name, content, content_type)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("email", "status"),
    [pytest.param(BANK_B, 404, id="another-bank"), pytest.param(BUYERS[0], 403, id="buyer")],
)
async def test_only_the_bank_or_an_operator_uploads(client: Client, email: str, status: int) -> None:
    orgs = await org_ids(client)
    draft, _ = await clean_listing(client, orgs)
    response = await _upload(client, draft["id"], "a.pdf", PDF, "application/pdf", email=email)
    assert response.status_code == status
    by_operator = await _upload(client, draft["id"], "a.pdf", PDF, "application/pdf", email=OPERATOR)
    assert by_operator.status_code == 201


async def test_client_file_names_never_reach_the_file_system(client: Client, settings: Settings) -> None:
    orgs = await org_ids(client)
    draft, _ = await clean_listing(client, orgs)
    response = await _upload(client, draft["id"], "../../etc/passwd.txt", b"hello", "text/plain")
    assert response.status_code == 201
    assert response.json()["filename"] == "passwd.txt"
    stored = list(settings.uploads_dir.rglob("*"))
    assert all(path.name != "passwd.txt" for path in stored)
    assert any(path.is_file() and path.read_bytes() == b"hello" for path in stored)
