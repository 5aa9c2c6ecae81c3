"""Factories for listing tests: sandbox records, listing drafts, and the API steps of the bank flow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient

from marketplace.seed import DEMO_ORGS
from tests.helpers import BANK_A, OPERATOR, bearer

Client = AsyncTestClient[Any]

BANK_A_NAME = next(org.name for org in DEMO_ORGS if org.key == "bank_a")
BANK_B_NAME = next(org.name for org in DEMO_ORGS if org.key == "bank_b")
TODAY = datetime.now(UTC).date()


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().int % 10**10:010d}"


def patent_number() -> str:
    return f"CN{TODAY.year - 5}1{uuid.uuid4().int % 10**7:07d}.X"


def sandbox_record(number: str, pledge_no: str, **changes: Any) -> dict[str, Any]:
    """A CNIPA invention patent that passes every check for a Bank A listing under ``pledge_no``."""
    record: dict[str, Any] = {
        "registry": "cnipa",
        "number": number,
        "kind": "invention_patent",
        "title": f"一种测试用方法 {number}",
        "holder": "测试出质人有限公司",
        "co_owners": [],
        "status": "in_force",
        "filed_on": (TODAY - timedelta(days=5 * 365)).isoformat(),
        "expires_on": (TODAY + timedelta(days=15 * 365)).isoformat(),
        "fees_paid_until": (TODAY + timedelta(days=300)).isoformat(),
        "pledges": [{"pledgee": BANK_A_NAME, "registration_no": pledge_no, "status": "registered"}],
        "licences": [],
    }
    record.update(changes)
    return record


async def org_ids(client: Client) -> dict[str, str]:
    """Demo organisation ids by seed key (bank_a, bank_b, guarantor, risk_pool, valuer, …)."""
    headers = await bearer(client, OPERATOR)
    orgs = (await client.get("/api/orgs", headers=headers)).json()
    by_name = {org["name"]: org["id"] for org in orgs}
    return {demo.key: by_name[demo.name] for demo in DEMO_ORGS}


def draft_body(
    orgs: dict[str, str],
    assets: list[dict[str, Any]],
    pledge_no: str,
    *,
    title: str | None = None,
    claim: int = 100_000_000,
    valuation: int = 120_000_000,
    bank: str = "bank_a",
    **changes: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": title or f"测试专利包 {unique()}",
        "currency": "CNY",
        "loan": {
            "loan_ref": unique("LN-"),
            "pledgor_name": "测试出质人有限公司",
            "claim": claim,
            "default_date": (TODAY - timedelta(days=90)).isoformat(),
        },
        "pledge": {"registry": "cnipa", "registration_no": pledge_no},
        "assets": assets,
        "valuation": {"amount": valuation, "method": "internal", "agency_org_id": None, "report_date": None},
        "settlement": {
            "parties": [
                {"role": "bank", "org_id": orgs[bank], "ratio_bp": 2000},
                {"role": "guarantor", "org_id": orgs["guarantor"], "ratio_bp": 4000},
                {"role": "risk_pool", "org_id": orgs["risk_pool"], "ratio_bp": 4000},
            ],
            "advances": [
                {"role": "guarantor", "amount": claim * 4 // 10},
                {"role": "risk_pool", "amount": claim * 4 // 10},
            ],
            "costs": [{"kind": "valuation_fee", "amount": 300_000}],
        },
    }
    body.update(changes)
    return body


def asset(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    item = {
        "kind": record["kind"],
        "registry": record["registry"],
        "number": record["number"],
        "title": record["title"],
    }
    item.update(changes)
    return item


async def put_records(client: Client, *records: dict[str, Any]) -> None:
    headers = await bearer(client, OPERATOR)
    for record in records:
        response = await client.post("/api/registry/sandbox/records", json=record, headers=headers)
        assert response.status_code in (200, 201), response.text


async def create_listing(client: Client, body: dict[str, Any], email: str = BANK_A) -> dict[str, Any]:
    response = await client.post("/api/listings", json=body, headers=await bearer(client, email))
    assert response.status_code == 201, response.text
    listing: dict[str, Any] = response.json()
    return listing


async def submit(client: Client, listing_id: str, email: str = BANK_A) -> dict[str, Any]:
    response = await client.post(f"/api/listings/{listing_id}/submit", headers=await bearer(client, email))
    assert response.status_code == 200, response.text
    listing: dict[str, Any] = response.json()
    return listing


async def approve(client: Client, listing_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/listings/{listing_id}/approve", headers=await bearer(client, OPERATOR)
    )
    assert response.status_code == 200, response.text
    listing: dict[str, Any] = response.json()
    return listing


async def clean_listing(
    client: Client, orgs: dict[str, str], *, title: str | None = None, valuation: int = 120_000_000
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A draft of Bank A whose one patent passes every check; returns (listing, record)."""
    pledge_no = unique("Y")
    record = sandbox_record(patent_number(), pledge_no)
    await put_records(client, record)
    listing = await create_listing(
        client, draft_body(orgs, [asset(record)], pledge_no, title=title, valuation=valuation)
    )
    return listing, record


async def published_listing(
    client: Client, orgs: dict[str, str], *, title: str | None = None, valuation: int = 120_000_000
) -> dict[str, Any]:
    listing, _ = await clean_listing(client, orgs, title=title, valuation=valuation)
    await submit(client, listing["id"])
    return await approve(client, listing["id"])


def checks_named(listing: dict[str, Any], check: str, number: str | None = None) -> list[dict[str, Any]]:
    return [
        item
        for item in listing["checks"]
        if item["check"] == check and (number is None or item["asset"] == number)
    ]


async def registry_answer(client: Client, registry: str, number: str) -> dict[str, Any]:
    """The sandbox record as stored (the registry's answer the checks read), without its metadata."""
    response = await client.get(
        f"/api/registry/sandbox/records/{registry}/{number}", headers=await bearer(client, OPERATOR)
    )
    assert response.status_code == 200, response.text
    stored: dict[str, Any] = response.json()
    stored.pop("updated_at")
    stored.pop("updated_by")
    return stored
