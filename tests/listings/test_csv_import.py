"""CSV import: rows validated and reported one by one, valid rows created in one transaction, as a job."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar.stores.memory import MemoryStore
from sqlalchemy import func, select

from marketplace.accounts.security import Principal
from marketplace.db import make_engine, make_sessionmaker
from marketplace.errors import Invalid
from marketplace.listings import csv_import
from marketplace.listings.csv_import import ImportJobs, column_for_path, draft_from_row, parse_csv
from marketplace.listings.models import Listing
from marketplace.settings import Settings
from tests.helpers import BANK_A, BUYERS, OPERATOR, bearer, direct_db
from tests.listings.support import TODAY, Client, org_ids, patent_number, unique

BANK = uuid.UUID(int=1)
ORGS = {"示范融资担保公司": uuid.UUID(int=2), "示范风险池": uuid.UUID(int=3)}


def good_row(**changes: str) -> dict[str, str]:
    row = {
        "title": f"CSV 导入专利 {unique()}",
        "currency": "CNY",
        "loan_ref": unique("CSV-"),
        "pledgor_name": "测试出质人有限公司",
        "claim": "100000000",
        "default_date": TODAY.replace(day=1).isoformat(),
        "pledge_registry": "cnipa",
        "pledge_registration_no": unique("Y"),
        "valuation_amount": "120000000",
        "valuation_method": "internal",
        "bank_ratio_bp": "2000",
        "guarantor_org": "示范融资担保公司",
        "guarantor_ratio_bp": "8000",
        "guarantor_advance": "50000000",
        "costs": "valuation_fee=300000",
        "asset1_kind": "invention_patent",
        "asset1_number": patent_number(),
        "asset1_title": "一种测试方法",
        "asset2_kind": "",
        "asset2_number": "",
        "asset2_title": "",
    }
    row.update(changes)
    return row


def to_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def test_a_good_row_becomes_a_listing_draft_body() -> None:
    row = good_row(asset2_kind="trademark", asset2_number="40123456", asset2_title="商标")
    draft = draft_from_row(row, BANK, ORGS)
    assert draft["loan"]["claim"] == 100_000_000
    assert draft["settlement"]["parties"] == [
        {"role": "bank", "org_id": str(BANK), "ratio_bp": 2000},
        {"role": "guarantor", "org_id": str(ORGS["示范融资担保公司"]), "ratio_bp": 8000},
    ]
    assert draft["settlement"]["advances"] == [{"role": "guarantor", "amount": 50_000_000}]
    assert draft["settlement"]["costs"] == [{"kind": "valuation_fee", "amount": 300_000}]
    assert [asset["kind"] for asset in draft["assets"]] == ["invention_patent", "trademark"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"claim": "一百万"}, "claim", id="claim-not-a-number"),
        pytest.param({"claim": "-5"}, "claim", id="negative-claim"),
        pytest.param({"default_date": "30/09/2026"}, "default_date", id="bad-date"),
        pytest.param({"title": ""}, "title", id="missing-title"),
        pytest.param({"guarantor_org": "Nobody Ltd"}, "guarantor_org", id="unknown-organisation"),
        pytest.param({"guarantor_org": ""}, "guarantor_org", id="ratio-without-organisation"),
        pytest.param({"costs": "valuation_fee:300"}, "costs", id="bad-costs"),
        pytest.param(
            {"asset1_kind": "", "asset1_number": "", "asset1_title": ""}, "asset1_kind", id="no-asset"
        ),
        pytest.param({"asset2_kind": "trademark"}, "asset2_number", id="half-an-asset"),
        pytest.param({"asset1_co_owner_consent": "maybe"}, "asset1_co_owner_consent", id="bad-boolean"),
    ],
)
def test_a_bad_row_names_its_column(changes: dict[str, str], field: str) -> None:
    with pytest.raises(csv_import.RowError) as error:
        draft_from_row(good_row(**changes), BANK, ORGS)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("message", "column"),
    [
        pytest.param("Expected `int` - at `$.loan.claim`", "claim", id="loan-claim"),
        pytest.param("Invalid enum value 'x' - at `$.assets[1].kind`", "asset2_kind", id="second-asset-kind"),
        pytest.param("Expected `str` - at `$.valuation.method`", "valuation_method", id="valuation-method"),
        pytest.param("Object missing required field", "row", id="no-path"),
    ],
)
def test_validation_paths_map_to_columns(message: str, column: str) -> None:
    assert column_for_path(message) == column


@pytest.mark.parametrize(
    ("content", "code"),
    [
        pytest.param(b"", "bad_csv", id="empty"),
        pytest.param(b"\xff\xfe\x00bad", "bad_csv", id="not-utf8"),
        pytest.param(b"title,claim\nx,1\n", "bad_csv", id="missing-columns"),
        pytest.param(to_csv([good_row()]).split(b"\r\n")[0] + b"\r\n", "bad_csv", id="header-only"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused_whole(content: bytes, code: str) -> None:
    with pytest.raises(Invalid) as error:
        parse_csv(content)
    assert error.value.code == code


@hypothesis_settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abc, \"'\n;|=", max_size=12), min_size=1, max_size=6))
def test_parsing_keeps_every_non_empty_row_and_its_values(titles: list[str]) -> None:
    rows = [good_row(title=title) for title in titles]
    parsed = parse_csv(to_csv(rows))
    kept = [row for row in rows if any(value.strip() for value in row.values())]
    assert [row["title"] for row in parsed.rows] == [row["title"].strip() for row in kept]


async def _wait_for_job(client: Client, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(400):
        state: dict[str, Any] = (await client.get(f"/api/listings/import/{job_id}", headers=headers)).json()
        if state["status"] != "running":
            return state
        await asyncio.sleep(0.025)
    raise AssertionError(f"import job {job_id} still running")


async def test_import_creates_good_rows_and_reports_bad_ones(client: Client) -> None:
    orgs = await org_ids(client)
    guarantor = orgs["guarantor"]
    rows = [
        good_row(guarantor_org=guarantor),
        good_row(guarantor_org=guarantor, claim="abc"),
        good_row(guarantor_org=guarantor, bank_ratio_bp="2500"),
        good_row(guarantor_org=guarantor),
    ]
    bank = await bearer(client, BANK_A)
    started = await client.post(
        "/api/listings/import", files={"file": ("drafts.csv", to_csv(rows), "text/csv")}, headers=bank
    )
    assert started.status_code == 202, started.text
    assert started.json()["total"] == 4
    state = await _wait_for_job(client, started.json()["job_id"], bank)
    assert state["status"] == "done"
    assert state["processed"] == state["total"] == 4
    assert [(error["row"], error["field"]) for error in state["errors"]] == [
        (3, "claim"),
        (4, "bank_ratio_bp"),
    ]
    assert all(error["reason"] for error in state["errors"])
    assert [created["row"] for created in state["created"]] == [2, 5]
    for created, row in zip(state["created"], (rows[0], rows[3]), strict=True):
        listing = (await client.get(f"/api/listings/{created['id']}", headers=bank)).json()
        assert listing["status"] == "draft"
        assert listing["title"] == row["title"]
        assert listing["loan"]["loan_ref"] == row["loan_ref"]

    other = await client.get(
        f"/api/listings/import/{started.json()['job_id']}", headers=await bearer(client, "bank-b@bank.demo")
    )
    assert other.status_code == 404
    by_operator = await client.get(
        f"/api/listings/import/{started.json()['job_id']}", headers=await bearer(client, OPERATOR)
    )
    assert by_operator.status_code == 200


async def test_only_banks_import_and_a_malformed_file_is_422(client: Client) -> None:
    files = {"file": ("drafts.csv", b"title\nx\n", "text/csv")}
    buyer = await client.post("/api/listings/import", files=files, headers=await bearer(client, BUYERS[0]))
    assert buyer.status_code == 403
    bank = await client.post("/api/listings/import", files=files, headers=await bearer(client, BANK_A))
    assert bank.status_code == 422
    assert bank.json()["code"] == "bad_csv"


async def test_a_failing_import_writes_nothing(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async with direct_db(settings) as session:
        from marketplace.accounts.models import Org, User

        bank_user = await session.scalar(select(User).where(User.email == BANK_A))
        assert bank_user is not None
        org = await session.get(Org, bank_user.org_id)
        assert org is not None
        guarantor = await session.scalar(select(Org.name).where(Org.kind == "guarantor"))
    principal = Principal(
        user_id=bank_user.id,
        role="bank_user",
        org_id=org.id,
        org_kind="bank",
        name=bank_user.name,
        email=bank_user.email,
        via="test",
    )
    real_create = csv_import.create_listing
    calls = 0

    async def create_then_fail(*args: Any, **kwargs: Any) -> Listing:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionResetError("the database went away")
        return await real_create(*args, **kwargs)

    monkeypatch.setattr(csv_import, "create_listing", create_then_fail)
    tag = unique("Atomic-")
    rows = [good_row(title=f"{tag} {n}", guarantor_org=str(guarantor)) for n in range(4)]
    engine = make_engine(settings.database_url)
    try:
        jobs = ImportJobs(MemoryStore(), make_sessionmaker(engine), sqlite=settings.is_sqlite)
        started = await jobs.start(principal, to_csv(rows), "drafts.csv")
        await jobs.wait_all()
        state = await jobs.status(principal, uuid.UUID(started["job_id"]))
    finally:
        await engine.dispose()
    assert calls == 3
    assert state["status"] == "failed"
    assert state["created"] == []
    async with direct_db(settings) as session:
        written = await session.scalar(
            select(func.count()).select_from(Listing).where(Listing.title.like(f"{tag}%"))
        )
    assert written == 0
