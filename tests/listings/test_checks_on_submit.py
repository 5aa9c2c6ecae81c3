"""Every registry check on submit, passing and failing, with records entered in the sandbox registry."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from marketplace.listings.models import ListingCheck
from marketplace.settings import Settings
from registry_adapters.base import sha256_hex
from registry_adapters.sandbox import canonical_json
from tests.helpers import OPERATOR, bearer, direct_db
from tests.listings.support import (
    BANK_B_NAME,
    TODAY,
    Client,
    asset,
    checks_named,
    create_listing,
    draft_body,
    org_ids,
    patent_number,
    put_records,
    registry_answer,
    sandbox_record,
    submit,
    unique,
)


def _pledged_to(pledgee: str, registration_no: str) -> list[dict[str, Any]]:
    return [{"pledgee": pledgee, "registration_no": registration_no, "status": "registered"}]


# (id, record changes given the listing's pledge number, the check, ok, severity)
SINGLE_ASSET_CASES = [
    ("clean-pledge", lambda no: {}, "pledge_registered", True, "hard"),
    (
        "pledged-to-another-bank",
        lambda no: {"pledges": _pledged_to(BANK_B_NAME, no)},
        "pledge_registered",
        False,
        "hard",
    ),
    ("no-other-pledge", lambda no: {}, "no_other_pledge", True, "hard"),
    (
        "also-pledged-to-another-bank",
        lambda no: {"pledges": [*sandbox_record("x", no)["pledges"], *_pledged_to(BANK_B_NAME, "Y-OTHER")]},
        "no_other_pledge",
        False,
        "hard",
    ),
    (
        "pledge-released",
        lambda no: {"pledges": [{**sandbox_record("x", no)["pledges"][0], "status": "released"}]},
        "pledge_registered",
        False,
        "hard",
    ),
    ("in-force", lambda no: {}, "in_force", True, "hard"),
    ("lapsed", lambda no: {"status": "lapsed"}, "in_force", False, "hard"),
    (
        "term-ends-before-the-sale",
        lambda no: {"expires_on": (TODAY + timedelta(days=10)).isoformat()},
        "in_force",
        False,
        "hard",
    ),
    ("fees-paid", lambda no: {}, "fees_paid", True, "warning"),
    (
        "fees-unpaid",
        lambda no: {"fees_paid_until": (TODAY - timedelta(days=30)).isoformat()},
        "fees_paid",
        False,
        "warning",
    ),
    ("sole-holder", lambda no: {}, "co_owner_consent", True, "hard"),
    ("co-owned-without-consent", lambda no: {"co_owners": ["某大学"]}, "co_owner_consent", False, "hard"),
    (
        "undisclosed-licence",
        lambda no: {"licences": [{"licensee": "被许可人有限公司", "kind": "exclusive", "until": None}]},
        "disclosures",
        False,
        "hard",
    ),
    ("kind-matches", lambda no: {}, "kind_matches", True, "hard"),
    ("kind-differs", lambda no: {"kind": "utility_model"}, "kind_matches", False, "hard"),
]


@pytest.mark.parametrize(
    ("changes", "check", "ok", "severity"),
    [pytest.param(*case[1:], id=case[0]) for case in SINGLE_ASSET_CASES],
)
async def test_each_check_on_one_asset(
    client: Client, changes: Any, check: str, ok: bool, severity: str
) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("Y")
    number = patent_number()
    record = sandbox_record(number, pledge_no, **changes(pledge_no))
    await put_records(client, record)
    listing = await create_listing(
        client, draft_body(orgs, [asset(record, kind="invention_patent")], pledge_no)
    )
    submitted = await submit(client, listing["id"])
    assert submitted["status"] == "submitted"
    [result] = checks_named(submitted, check, number)
    assert (result["ok"], result["severity"]) == (ok, severity), result
    answer = await registry_answer(client, "cnipa", number)
    assert result["evidence_sha256"] == sha256_hex(canonical_json(answer))


async def test_unpaid_fees_are_a_warning_with_a_disposal_cost_and_do_not_block_approval(
    client: Client, settings: Settings
) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("Y")
    record = sandbox_record(
        patent_number(), pledge_no, fees_paid_until=(TODAY - timedelta(days=30)).isoformat()
    )
    await put_records(client, record)
    listing = await create_listing(client, draft_body(orgs, [asset(record)], pledge_no))
    submitted = await submit(client, listing["id"])
    [fees] = checks_named(submitted, "fees_paid")
    assert fees["cost"] > 0
    arrears = [c for c in submitted["settlement"]["costs"] if c["kind"].startswith("annual_fee_arrears")]
    assert arrears == [{"kind": f"annual_fee_arrears:{record['number']}", "amount": fees["cost"]}]

    operator = await bearer(client, OPERATOR)
    await client.post(f"/api/listings/{listing['id']}/reject", json={"reason": "again"}, headers=operator)
    resubmitted = await submit(client, listing["id"])
    again = [c for c in resubmitted["settlement"]["costs"] if c["kind"].startswith("annual_fee_arrears")]
    assert again == arrears, "re-running the checks must not count arrears twice"
    approved = await client.post(f"/api/listings/{listing['id']}/approve", headers=operator)
    assert approved.status_code == 200

    async with direct_db(settings) as session:
        stored = (
            await session.scalars(
                select(ListingCheck)
                .where(ListingCheck.listing_id == uuid.UUID(listing["id"]), ListingCheck.check == "fees_paid")
                .order_by(ListingCheck.run_no)
            )
        ).all()
        assert [check.run_no for check in stored] == [1, 2]
        answer = canonical_json(await registry_answer(client, "cnipa", record["number"]))
        assert all(check.raw_evidence == answer for check in stored)


async def test_co_owned_asset_passes_with_consent(client: Client) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("Y")
    record = sandbox_record(patent_number(), pledge_no, co_owners=["某大学"])
    await put_records(client, record)
    body = draft_body(orgs, [asset(record, co_owner_consent=True)], pledge_no)
    listing = await create_listing(client, body)
    [consent] = checks_named(await submit(client, listing["id"]), "co_owner_consent")
    assert consent["ok"] is True


async def test_a_disclosed_licence_passes(client: Client) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("Y")
    record = sandbox_record(
        patent_number(),
        pledge_no,
        licences=[{"licensee": "被许可人有限公司", "kind": "exclusive", "until": None}],
    )
    await put_records(client, record)
    disclosures = {
        "licences": [{"asset": record["number"], "licensee": "被许可人有限公司", "kind": "exclusive"}]
    }
    listing = await create_listing(
        client, draft_body(orgs, [asset(record)], pledge_no, disclosures=disclosures)
    )
    [disclosed] = checks_named(await submit(client, listing["id"]), "disclosures")
    assert disclosed["ok"] is True


async def test_an_asset_the_registry_does_not_know_fails_found(client: Client) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("Y")
    unknown = sandbox_record(patent_number(), pledge_no)
    listing = await create_listing(client, draft_body(orgs, [asset(unknown)], pledge_no))
    submitted = await submit(client, listing["id"])
    assert [(c["check"], c["ok"]) for c in submitted["checks"] if c["asset"] == unknown["number"]] == [
        ("found", False)
    ]
    known = sandbox_record(patent_number(), pledge_no)
    await put_records(client, known)
    second = await create_listing(client, draft_body(orgs, [asset(known)], pledge_no))
    [found] = checks_named(await submit(client, second["id"]), "found")
    assert found["ok"] is True


def _mark(number: str, pledge_no: str, family: str) -> dict[str, Any]:
    return sandbox_record(
        number,
        pledge_no,
        registry="cntmo",
        kind="trademark",
        title=f"测试商标 {number}",
        filed_on=None,
        fees_paid_until=None,
        family=family,
    )


@pytest.mark.parametrize(
    ("in_lot", "ok"),
    [pytest.param(3, True, id="whole-family-in-the-lot"), pytest.param(2, False, id="family-split")],
)
async def test_trademark_family_must_be_sold_together(client: Client, in_lot: int, ok: bool) -> None:
    orgs = await org_ids(client)
    pledge_no = unique("TMZ")
    family = unique("FAM-")
    marks = [_mark(unique(), pledge_no, family) for _ in range(3)]
    await put_records(client, *marks)
    body = draft_body(orgs, [asset(mark) for mark in marks[:in_lot]], pledge_no)
    body["pledge"]["registry"] = "cntmo"
    listing = await create_listing(client, body)
    results = checks_named(await submit(client, listing["id"]), "trademark_family")
    assert len(results) == in_lot
    assert all(result["ok"] is ok for result in results)
    if not ok:
        assert marks[2]["number"] in results[0]["detail"]
