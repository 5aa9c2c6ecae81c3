"""The bank flow through the public API: draft → submit (checks) → approve → in the catalogue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from marketplace.listings.models import Listing, ListingTransition
from marketplace.settings import Settings
from tests.helpers import BANK_A, BANK_B, BUYERS, GUARANTOR, OPERATOR, bearer, direct_db
from tests.listings.support import (
    TODAY,
    Client,
    approve,
    asset,
    clean_listing,
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

CONFIDENTIAL = ("loan", "pledge", "settlement")


async def test_the_whole_bank_flow_publishes_a_checked_listing(client: Client, settings: Settings) -> None:
    orgs = await org_ids(client)
    title = f"全流程测试专利包 {unique()}"
    listing, record = await clean_listing(client, orgs, title=title)
    assert listing["status"] == "draft"
    assert listing["checks"] == []
    assert listing["rounds"] == []
    assert listing["offers"] == []
    assert listing["loan"]["claim"] == 100_000_000

    anonymous_search = await client.get("/api/listings", params={"q": title})
    assert anonymous_search.json()["total"] == 0

    submitted = await submit(client, listing["id"])
    assert submitted["status"] == "submitted"
    assert {item["check"] for item in submitted["checks"]} >= {
        "found",
        "pledge_registered",
        "no_other_pledge",
        "in_force",
        "fees_paid",
        "co_owner_consent",
    }
    assert all(item["ok"] for item in submitted["checks"])
    assert all(set(item) >= {"asset", "check", "ok", "detail", "severity"} for item in submitted["checks"])

    queue = (await client.get("/api/review-queue", headers=await bearer(client, OPERATOR))).json()
    assert listing["id"] in [item["id"] for item in queue["items"]]

    approved = await approve(client, listing["id"])
    assert approved["status"] == "approved"
    assert approved["approved_at"]
    assert approved["announcement_at"]
    assert approved["planned_sale_date"] == (TODAY + timedelta(days=45)).isoformat()

    page = (await client.get("/api/listings", params={"q": title})).json()
    assert [item["id"] for item in page["items"]] == [listing["id"]]
    history = await client.get(
        f"/api/listings/{listing['id']}/transitions", headers=await bearer(client, BANK_A)
    )
    assert [(step["from_status"], step["to_status"]) for step in history.json()] == [
        ("draft", "submitted"),
        ("submitted", "approved"),
    ]
    hidden_history = await client.get(
        f"/api/listings/{listing['id']}/transitions", headers=await bearer(client, BUYERS[0])
    )
    assert hidden_history.status_code == 403
    public = (await client.get(f"/api/listings/{listing['id']}")).json()
    assert public["status"] == "approved"
    assert public["confidential"] is False
    assert not set(CONFIDENTIAL) & set(public)
    assert public["assets"][0]["number"] == record["number"]

    async with direct_db(settings) as session:
        row = await session.scalar(select(Listing).where(Listing.title == title))
        assert row is not None
        history = (
            await session.scalars(
                select(ListingTransition.to_status)
                .where(ListingTransition.listing_id == row.id)
                .order_by(ListingTransition.at)
            )
        ).all()
        assert list(history) == ["submitted", "approved"]
        assert record["number"].lower() in row.search_text


async def test_a_buyer_cannot_create_a_listing(client: Client) -> None:
    orgs = await org_ids(client)
    body = draft_body(orgs, [asset(sandbox_record(patent_number(), "Y1"))], "Y1")
    response = await client.post("/api/listings", json=body, headers=await bearer(client, BUYERS[0]))
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_role"
    anonymous = await client.post("/api/listings", json=body)
    assert anonymous.status_code == 401


async def test_another_bank_gets_404_for_a_draft_and_never_sees_settlement_terms(client: Client) -> None:
    orgs = await org_ids(client)
    draft, _ = await clean_listing(client, orgs)
    bank_b = await bearer(client, BANK_B)
    hidden = await client.get(f"/api/listings/{draft['id']}", headers=bank_b)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "not_found"
    submit_other = await client.post(f"/api/listings/{draft['id']}/submit", headers=bank_b)
    assert submit_other.status_code == 404

    published = await published_listing(client, orgs)
    seen = (await client.get(f"/api/listings/{published['id']}", headers=bank_b)).json()
    assert seen["status"] == "approved"
    assert not set(CONFIDENTIAL) & set(seen)
    withdraw_other = await client.post(
        f"/api/listings/{published['id']}/withdraw", json={"reason": "not mine"}, headers=bank_b
    )
    assert withdraw_other.status_code == 403
    assert withdraw_other.json()["code"] == "not_owner"


@pytest.mark.parametrize(
    ("email", "confidential"),
    [
        pytest.param(BANK_A, True, id="owning-bank"),
        pytest.param(GUARANTOR, True, id="settlement-party"),
        pytest.param(OPERATOR, True, id="operator"),
        pytest.param(BANK_B, False, id="another-bank"),
        pytest.param(BUYERS[0], False, id="buyer"),
        pytest.param(None, False, id="anonymous"),
    ],
)
async def test_confidential_fields_only_for_bank_parties_and_operators(
    client: Client, email: str | None, confidential: bool
) -> None:
    orgs = await org_ids(client)
    listing = await published_listing(client, orgs)
    headers = await bearer(client, email) if email else {}
    body = (await client.get(f"/api/listings/{listing['id']}", headers=headers)).json()
    assert body["confidential"] is confidential
    assert all((key in body) is confidential for key in CONFIDENTIAL)
    if confidential:
        assert body["settlement"]["parties"][0]["role"] == "bank"
        assert body["loan"]["pledgor_name"] == "测试出质人有限公司"
    else:
        assert "测试出质人有限公司" not in str(body)


async def test_anonymous_and_buyers_see_only_published_listings(client: Client) -> None:
    orgs = await org_ids(client)
    draft, _ = await clean_listing(client, orgs)
    for headers in ({}, await bearer(client, BUYERS[1])):
        assert (await client.get(f"/api/listings/{draft['id']}", headers=headers)).status_code == 404
        page = (await client.get("/api/listings", params={"page_size": 100}, headers=headers)).json()
        assert {item["status"] for item in page["items"]} <= {
            "approved",
            "in_disposal",
            "sold",
            "failed",
            "settled",
        }
        assert draft["id"] not in [item["id"] for item in page["items"]]
    own = (
        await client.get("/api/listings", params={"status": "draft"}, headers=await bearer(client, BANK_A))
    ).json()
    assert draft["id"] in [item["id"] for item in own["items"]]


async def test_approval_is_refused_while_a_hard_check_fails_and_allowed_after_a_fix(client: Client) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("Y")
    record = sandbox_record(patent_number(), pledge_no, status="lapsed")
    await put_records(client, record)
    listing = await create_listing(client, draft_body(orgs, [asset(record)], pledge_no))
    submitted = await submit(client, listing["id"])
    assert any(not item["ok"] and item["severity"] == "hard" for item in submitted["checks"])
    operator = await bearer(client, OPERATOR)
    refused = await client.post(f"/api/listings/{listing['id']}/approve", headers=operator)
    assert refused.status_code == 409
    assert refused.json()["code"] == "checks_failed"
    assert "in_force" in refused.json()["detail"]

    rejected = await client.post(
        f"/api/listings/{listing['id']}/reject", json={"reason": "the patent has lapsed"}, headers=operator
    )
    assert rejected.json()["status"] == "rejected"
    await put_records(client, {**record, "status": "in_force"})
    resubmitted = await submit(client, listing["id"])
    assert all(item["ok"] for item in resubmitted["checks"])
    assert (await approve(client, listing["id"]))["status"] == "approved"


@pytest.mark.parametrize(
    ("steps", "action", "code"),
    [
        pytest.param([], "approve", "illegal_transition", id="approve-a-draft"),
        pytest.param([], "reject", "illegal_transition", id="reject-a-draft"),
        pytest.param(["submit"], "submit", "illegal_transition", id="submit-twice"),
        pytest.param(["submit", "approve"], "approve", "illegal_transition", id="approve-twice"),
        pytest.param(["submit", "approve"], "submit", "illegal_transition", id="submit-published"),
        pytest.param(["withdraw"], "withdraw", "illegal_transition", id="withdraw-twice"),
        pytest.param(["withdraw"], "submit", "illegal_transition", id="submit-withdrawn"),
    ],
)
async def test_illegal_transitions_are_409(client: Client, steps: list[str], action: str, code: str) -> None:
    orgs = await org_ids(client)
    listing, _ = await clean_listing(client, orgs)
    bank = await bearer(client, BANK_A)
    operator = await bearer(client, OPERATOR)

    async def act(step: str) -> Any:
        headers = bank if step in ("submit", "withdraw") else operator
        body = {"reason": "test"} if step in ("reject", "withdraw") else None
        return await client.post(f"/api/listings/{listing['id']}/{step}", json=body, headers=headers)

    for step in steps:
        assert (await act(step)).status_code == 200
    response = await act(action)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == code


async def test_withdrawal_by_the_bank_or_the_operator(client: Client) -> None:
    orgs = await org_ids(client)
    first, _ = await clean_listing(client, orgs)
    withdrawn = await client.post(
        f"/api/listings/{first['id']}/withdraw",
        json={"reason": "repaid"},
        headers=await bearer(client, BANK_A),
    )
    assert withdrawn.json()["status"] == "withdrawn"
    second = await published_listing(client, orgs)
    by_operator = await client.post(
        f"/api/listings/{second['id']}/withdraw",
        json={"reason": "court order"},
        headers=await bearer(client, OPERATOR),
    )
    assert by_operator.json()["status"] == "withdrawn"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"bank_ratio": 3000}, "ratios_not_10000", id="ratios-not-10000"),
        pytest.param({"bank": "bank_b"}, "bank_line_not_listing_bank", id="bank-line-of-another-bank"),
        pytest.param({"advance": 200_000_000}, "advance_above_claim", id="advances-above-claim"),
        pytest.param({"role": "pledgor"}, "invalid_input", id="unknown-role"),
        pytest.param({"negative": True}, "invalid_input", id="negative-cost"),
        pytest.param({"guarantor_org": "valuer"}, "party_kind_mismatch", id="party-of-the-wrong-kind"),
    ],
)
async def test_settlement_terms_are_validated_on_create(
    client: Client, change: dict[str, Any], code: str
) -> None:
    orgs = await org_ids(client)
    body = draft_body(orgs, [asset(sandbox_record(patent_number(), "Y1"))], "Y1")
    parties = body["settlement"]["parties"]
    if "bank_ratio" in change:
        parties[0]["ratio_bp"] = change["bank_ratio"]
    if "bank" in change:
        parties[0]["org_id"] = orgs[change["bank"]]
    if "advance" in change:
        body["settlement"]["advances"][0]["amount"] = change["advance"]
    if "role" in change:
        parties[1]["role"] = change["role"]
    if "negative" in change:
        body["settlement"]["costs"][0]["amount"] = -1
    if "guarantor_org" in change:
        parties[1]["org_id"] = orgs[change["guarantor_org"]]
    response = await client.post("/api/listings", json=body, headers=await bearer(client, BANK_A))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code


async def test_openapi_describes_the_listing_and_registry_contract(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    for path in (
        "/api/listings",
        "/api/listings/{listing_id}",
        "/api/listings/{listing_id}/submit",
        "/api/listings/{listing_id}/approve",
        "/api/listings/{listing_id}/reject",
        "/api/listings/{listing_id}/withdraw",
        "/api/listings/{listing_id}/nda",
        "/api/listings/{listing_id}/documents",
        "/api/listings/import",
        "/api/listings/import/{job_id}",
        "/api/review-queue",
        "/api/registry/sandbox/records",
        "/api/registry/sandbox/records/{registry}/{number}",
        "/api/registry/manual",
        "/api/registry/manual/{evidence_id}/approve",
        "/api/listings/{listing_id}/filings",
        "/api/filings/{filing_id}/confirm",
    ):
        assert path in schema["paths"], path
