"""Demo data for listings: the SYNTHETIC sandbox registry records and three listings of Bank A.

Idempotent: a sandbox record is added only when its ``(registry, number)`` is missing (an
operator's later edits are kept), and a demo listing only when Bank A has no listing with its
loan reference. The listings go through the real services (create, checks, approval), so they
carry real check results:
- ``DEMO-A-001`` approved, every hard check passed (an invention patent and a utility model);
- ``DEMO-A-002`` submitted and awaiting review (annual fees unpaid: a warning and an arrears
  cost line, approvable);
- ``DEMO-A-003`` a draft (a software copyright).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Org, User
from marketplace.accounts.security import Principal
from marketplace.db import utcnow
from marketplace.listings.models import Listing
from marketplace.listings.registry_checks import run_listing_checks
from marketplace.listings.schemas import ListingCreate
from marketplace.listings.service import approve_listing, create_listing, transition
from marketplace.registry.models import SandboxRecord
from marketplace.registry.service import upsert_sandbox_record
from marketplace.registry.store import from_session, marketplace_registry
from registry_adapters.sandbox import (
    DEMO_PLEDGE_A,
    DEMO_PLEDGE_A_SOFTWARE,
    DEMO_PLEDGE_A_UNPAID,
    demo_records,
)

log = structlog.get_logger("marketplace.seed")


def _principal(user: User, org: Org | None) -> Principal:
    return Principal(
        user_id=user.id,
        role=user.role,
        org_id=org.id if org else None,
        org_kind=org.kind if org else None,
        name=user.name,
        email=user.email,
        via="seed",
    )


async def seed_sandbox_records(session: AsyncSession, bank_a: str, bank_b: str, today: date) -> int:
    added = 0
    for data in demo_records(bank_a, bank_b, today):
        exists = await session.scalar(
            select(SandboxRecord.id).where(
                SandboxRecord.registry_name == data["registry"], SandboxRecord.number == data["number"]
            )
        )
        if exists is None:
            await upsert_sandbox_record(session, data, None)
            added += 1
    return added


def _records_by_pledge(records: list[dict[str, Any]], registration_no: str) -> list[dict[str, Any]]:
    return [
        record
        for record in records
        if any(pledge["registration_no"] == registration_no for pledge in record.get("pledges") or ())
    ]


def _draft(
    loan_ref: str,
    title: str,
    pledge_no: str,
    records: list[dict[str, Any]],
    orgs: dict[str, Org],
    today: date,
    *,
    claim: int,
    valuation: int,
    industry: str,
    ipc_class: str | None,
) -> ListingCreate:
    body = {
        "title": title,
        "currency": "CNY",
        "loan": {
            "loan_ref": loan_ref,
            "pledgor_name": "示范精密铝业（苏州）有限公司",
            "claim": claim,
            "default_date": (today - timedelta(days=120)).isoformat(),
        },
        "pledge": {"registry": records[0]["registry"], "registration_no": pledge_no},
        "assets": [
            {
                "kind": record["kind"],
                "registry": record["registry"],
                "number": record["number"],
                "title": record["title"],
            }
            for record in records
        ],
        "valuation": {
            "amount": valuation,
            "method": "external",
            "agency_org_id": str(orgs["valuer"].id),
            "report_date": (today - timedelta(days=30)).isoformat(),
        },
        "settlement": {
            "parties": [
                {"role": "bank", "org_id": str(orgs["bank_a"].id), "ratio_bp": 2000},
                {"role": "guarantor", "org_id": str(orgs["guarantor"].id), "ratio_bp": 4000},
                {"role": "risk_pool", "org_id": str(orgs["risk_pool"].id), "ratio_bp": 4000},
            ],
            "advances": [
                {"role": "guarantor", "amount": claim * 4000 // 10_000},
                {"role": "risk_pool", "amount": claim * 4000 // 10_000},
            ],
            "costs": [{"kind": "valuation_fee", "amount": 300_000}],
        },
        "disclosures": {"none_known": True},
        "industry": industry,
        "ipc_class": ipc_class,
    }
    return msgspec.convert(body, ListingCreate)


async def seed_demo_listings(session: AsyncSession, orgs: dict[str, Org], operator_email: str) -> int:
    """The three demo listings of Bank A (see the module docstring); returns how many were added."""
    today = utcnow().date()
    bank_a, bank_b = orgs["bank_a"], orgs["bank_b"]
    await seed_sandbox_records(session, bank_a.name, bank_b.name, today)
    bank_user = await session.scalar(select(User).where(User.org_id == bank_a.id).order_by(User.created_at))
    operator = await session.scalar(select(User).where(User.email == operator_email))
    if bank_user is None or operator is None:
        return 0
    banker = _principal(bank_user, bank_a)
    operator_principal = _principal(operator, orgs.get("exchange"))
    registry = marketplace_registry(from_session(session), sandbox=True)
    records = demo_records(bank_a.name, bank_b.name, today)
    plans = (
        (
            "DEMO-A-001",
            "高强度铝合金挤压成形专利包（发明+实用新型）",
            DEMO_PLEDGE_A,
            "approved",
            "manufacturing",
            "B21C",
        ),
        (
            "DEMO-A-002",
            "铝合金表面微弧氧化处理工艺发明专利",
            DEMO_PLEDGE_A_UNPAID,
            "submitted",
            "manufacturing",
            "C25D",
        ),
        ("DEMO-A-003", "挤压生产线智能排产系统软件著作权", DEMO_PLEDGE_A_SOFTWARE, "draft", "software", None),
    )
    added = 0
    for loan_ref, title, pledge_no, target, industry, ipc_class in plans:
        exists = await session.scalar(
            select(Listing.id).where(Listing.bank_org_id == bank_a.id, Listing.loan_ref == loan_ref)
        )
        if exists is not None:
            continue
        draft = _draft(
            loan_ref,
            title,
            pledge_no,
            _records_by_pledge(records, pledge_no),
            orgs,
            today,
            claim=100_000_000,
            valuation=120_000_000,
            industry=industry,
            ipc_class=ipc_class,
        )
        listing = await create_listing(session, banker, draft, today=today)
        if target in ("submitted", "approved"):
            await run_listing_checks(session, listing, registry)
            await transition(session, listing, "submitted", banker.user_id, "submitted for review")
        if target == "approved":
            await approve_listing(session, operator_principal, listing.id)
        added += 1
    log.info("demo listings in place", added=added)
    return added
