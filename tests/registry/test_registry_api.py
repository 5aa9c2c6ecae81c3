"""Sandbox records, manual evidence (two operators) and post-sale filings through the API."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from marketplace.listings.models import Listing
from marketplace.listings.service import transition
from marketplace.registry.service import transfer_confirmed
from marketplace.settings import Settings
from tests.conftest import Backend
from tests.helpers import BANK_A, BANK_B, BUYERS, GUARANTOR, OPERATOR, bearer, direct_db
from tests.listings.support import (
    Client,
    asset,
    checks_named,
    create_listing,
    draft_body,
    org_ids,
    patent_number,
    published_listing,
    put_records,
    sandbox_record,
    submit,
    unique,
)

NOTICE_SHA256 = hashlib.sha256(b"scanned registry extract").hexdigest()


async def second_operator(client: Client) -> dict[str, str]:
    operator = await bearer(client, OPERATOR)
    me = (await client.get("/api/me", headers=operator)).json()
    email = f"{unique('op')}@exchange.demo"
    created = await client.post(
        f"/api/orgs/{me['org']['id']}/users",
        json={"email": email, "password": "second-operator-pw", "name": "Second operator"},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    return await bearer(client, email, "second-operator-pw")


@pytest.mark.parametrize(
    ("email", "status"),
    [
        pytest.param(None, 401, id="anonymous"),
        pytest.param(BANK_A, 403, id="bank"),
        pytest.param(BUYERS[0], 403, id="buyer"),
        pytest.param(OPERATOR, 201, id="operator"),
    ],
)
async def test_sandbox_record_endpoints_need_the_operator(
    client: Client, email: str | None, status: int
) -> None:
    headers = await bearer(client, email) if email else {}
    record = sandbox_record(patent_number(), "Y1")
    created = await client.post("/api/registry/sandbox/records", json=record, headers=headers)
    assert created.status_code == status, created.text
    read = await client.get(f"/api/registry/sandbox/records/cnipa/{record['number']}", headers=headers)
    assert read.status_code == (200 if status == 201 else status)
    if status == 201:
        assert read.json()["pledges"][0]["registration_no"] == "Y1"


async def test_posting_a_record_again_replaces_it(client: Client) -> None:
    operator = await bearer(client, OPERATOR)
    record = sandbox_record(patent_number(), "Y1")
    first = await client.post("/api/registry/sandbox/records", json=record, headers=operator)
    second = await client.post(
        "/api/registry/sandbox/records", json={**record, "status": "lapsed"}, headers=operator
    )
    assert (first.status_code, second.status_code) == (201, 200)
    read = await client.get(f"/api/registry/sandbox/records/cnipa/{record['number']}", headers=operator)
    assert read.json()["status"] == "lapsed"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"status": "expired"}, id="unknown-status"),
        pytest.param({"kind": "recipe"}, id="unknown-kind"),
        pytest.param({"expires_on": "someday"}, id="bad-date"),
        pytest.param({"pledges": [{"pledgee": "X", "status": "registered"}]}, id="pledge-without-number"),
        pytest.param({"colour": "blue"}, id="unknown-field"),
    ],
)
async def test_invalid_sandbox_records_are_422(client: Client, changes: dict[str, Any]) -> None:
    record = {**sandbox_record(patent_number(), "Y1"), **changes}
    response = await client.post(
        "/api/registry/sandbox/records", json=record, headers=await bearer(client, OPERATOR)
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


async def test_manual_evidence_needs_a_second_operator_and_then_overrides_the_sandbox(client: Client) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("Y")
    lapsed = sandbox_record(patent_number(), pledge_no, status="lapsed")
    await put_records(client, lapsed)
    operator = await bearer(client, OPERATOR)

    evidence = {**lapsed, "status": "in_force", "document_sha256": NOTICE_SHA256}
    entered = await client.post("/api/registry/manual", json=evidence, headers=operator)
    assert entered.status_code == 201, entered.text
    assert entered.json()["state"] == "awaiting_approval"

    listing = await create_listing(client, draft_body(orgs, [asset(lapsed)], pledge_no))
    [before] = checks_named(await submit(client, listing["id"]), "in_force")
    assert before["ok"] is False, "unapproved evidence must not count"

    same = await client.post(f"/api/registry/manual/{entered.json()['id']}/approve", headers=operator)
    assert same.status_code == 403
    assert same.json()["code"] == "same_operator"
    by_bank = await client.post(
        f"/api/registry/manual/{entered.json()['id']}/approve", headers=await bearer(client, BANK_A)
    )
    assert by_bank.status_code == 403

    other = await second_operator(client)
    approved = await client.post(f"/api/registry/manual/{entered.json()['id']}/approve", headers=other)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    retry = await client.post(f"/api/registry/manual/{entered.json()['id']}/approve", headers=other)
    assert retry.status_code == 200

    await client.post(f"/api/listings/{listing['id']}/reject", json={"reason": "lapsed?"}, headers=operator)
    [after] = checks_named(await submit(client, listing["id"]), "in_force")
    assert after["ok"] is True
    assert "in force" in after["detail"]


async def test_manual_evidence_needs_a_document_hash(client: Client) -> None:
    evidence = {**sandbox_record(patent_number(), "Y1"), "document_sha256": "not-a-hash"}
    response = await client.post(
        "/api/registry/manual", json=evidence, headers=await bearer(client, OPERATOR)
    )
    assert response.status_code == 422


async def _sold(settings: Settings, listing_id: str) -> None:
    async with direct_db(settings) as session:
        listing = await session.scalar(select(Listing).where(Listing.id == uuid.UUID(listing_id)))
        assert listing is not None
        await transition(session, listing, "in_disposal", None, "auction scheduled")
        await transition(session, listing, "sold", None, "hammer")
        await session.commit()


async def test_filings_are_prepared_for_a_sold_listing_and_confirmed_by_an_operator(
    client: Client, settings: Settings
) -> None:
    orgs = await org_ids(client)
    listing = await published_listing(client, orgs)
    operator = await bearer(client, OPERATOR)
    early = await client.post(f"/api/listings/{listing['id']}/filings", json={}, headers=operator)
    assert early.status_code == 409
    assert early.json()["code"] == "not_sold"

    await _sold(settings, listing["id"])
    prepared = await client.post(
        f"/api/listings/{listing['id']}/filings", json={"transferee": "买受人<script>"}, headers=operator
    )
    assert prepared.status_code == 201, prepared.text
    tasks = prepared.json()
    assert [task["kind"] for task in tasks] == ["pledge_release", "transfer"]
    assert all(task["status"] == "prepared" for task in tasks)
    assert "<script>" not in tasks[1]["document_html"]
    assert "买受人&lt;script&gt;" in tasks[1]["document_html"]
    again = await client.post(f"/api/listings/{listing['id']}/filings", json={}, headers=operator)
    assert [task["id"] for task in again.json()] == [task["id"] for task in tasks]

    assert (
        await client.get(f"/api/listings/{listing['id']}/filings", headers=await bearer(client, GUARANTOR))
    ).status_code == 200
    assert (
        await client.get(f"/api/listings/{listing['id']}/filings", headers=await bearer(client, BANK_B))
    ).status_code == 403

    by_bank = await client.post(
        f"/api/filings/{tasks[0]['id']}/confirm", headers=await bearer(client, BANK_A)
    )
    assert by_bank.status_code == 403
    for task in tasks:
        confirmed = await client.post(
            f"/api/filings/{task['id']}/confirm", json={"note": "登记完成"}, headers=operator
        )
        assert confirmed.status_code == 200
        assert confirmed.json()["status"] == "confirmed"
        async with direct_db(settings) as session:
            done = await transfer_confirmed(session, uuid.UUID(listing["id"]))
        assert done is (task is tasks[-1])
    listed = (
        await client.get(f"/api/listings/{listing['id']}/filings", headers=await bearer(client, BANK_A))
    ).json()
    assert {task["status"] for task in listed} == {"confirmed"}


async def test_sandbox_routes_answer_404_when_the_sandbox_is_disabled(backend: Backend) -> None:
    from litestar.testing import AsyncTestClient

    from marketplace.app import create_app

    app = create_app(backend.settings.with_(sandbox_registry_enabled=False))
    async with AsyncTestClient(app=app) as client:
        operator = await bearer(client, OPERATOR)
        response = await client.post(
            "/api/registry/sandbox/records", json=sandbox_record(patent_number(), "Y1"), headers=operator
        )
        assert response.status_code == 404
        assert response.json()["code"] == "sandbox_disabled"
