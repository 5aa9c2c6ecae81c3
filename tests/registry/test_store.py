"""The database behind the registry adapters, and the demo seed built on it."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from marketplace.accounts.models import Org, User
from marketplace.accounts.security import IdNumberCipher
from marketplace.listings.models import Listing, ListingCheck
from marketplace.registry.models import ManualEvidenceRecord
from marketplace.registry.service import upsert_sandbox_record
from marketplace.registry.store import DbSandboxStore, from_session, marketplace_registry
from marketplace.seed import seed_demo
from marketplace.settings import Settings
from registry_adapters.sandbox import DEMO_MARK_FAMILY
from tests.helpers import BANK_A, OPERATOR, direct_db
from tests.listings.support import patent_number, sandbox_record


async def test_the_store_reads_records_and_trademark_families(settings: Settings) -> None:
    async with direct_db(settings) as session:
        store = DbSandboxStore(from_session(session))
        members = await store.family_members(DEMO_MARK_FAMILY)
        assert len(members) == 3
        assert {registry for registry, _ in members} == {"cntmo"}
        registry, number = sorted(members)[0]
        assert (await store.get(registry, number) or {})["family"] == DEMO_MARK_FAMILY
        assert await store.get("cnipa", "CN-NOT-THERE") is None


async def test_approved_manual_evidence_overrides_the_sandbox_and_unapproved_does_not(
    settings: Settings,
) -> None:
    async with direct_db(settings) as session:
        entered_by = await session.scalar(select(User.id).where(User.email == OPERATOR))
        approver = await session.scalar(select(User.id).where(User.email == BANK_A))
        assert entered_by is not None
        assert approver is not None
        record = sandbox_record(patent_number(), "Y1")
        await upsert_sandbox_record(session, record, None)
        registry = marketplace_registry(from_session(session), sandbox=True)
        from_sandbox = await registry.lookup("cnipa", record["number"])
        assert from_sandbox is not None
        assert from_sandbox.source == "sandbox"

        evidence = ManualEvidenceRecord(
            registry_name="cnipa",
            number=record["number"],
            data={**record, "holder": "人工核验持有人"},
            document_sha256=hashlib.sha256(b"notice").hexdigest(),
            entered_by=entered_by,
        )
        session.add(evidence)
        await session.flush()
        unapproved = await registry.lookup("cnipa", record["number"])
        assert unapproved is not None
        assert unapproved.source == "sandbox"

        evidence.approved_by = approver
        evidence.approved_at = evidence.entered_at
        await session.flush()
        manual = await registry.lookup("cnipa", record["number"])
        assert manual is not None
        assert (manual.source, manual.holder) == ("manual", "人工核验持有人")

        without_sandbox = marketplace_registry(from_session(session), sandbox=False)
        assert await without_sandbox.lookup("cnipa", patent_number()) is None
        await session.rollback()


async def test_the_demo_seed_has_three_bank_a_listings_and_is_idempotent(settings: Settings) -> None:
    async with direct_db(settings) as session:
        bank_a = await session.scalar(select(User.org_id).where(User.email == BANK_A))
        listings = {
            row.loan_ref: row
            for row in (await session.scalars(select(Listing).where(Listing.bank_org_id == bank_a))).all()
        }
        assert {ref: listings[ref].status for ref in ("DEMO-A-001", "DEMO-A-002", "DEMO-A-003")} == {
            "DEMO-A-001": "approved",
            "DEMO-A-002": "submitted",
            "DEMO-A-003": "draft",
        }
        approved_checks = (
            await session.scalars(
                select(ListingCheck).where(ListingCheck.listing_id == listings["DEMO-A-001"].id)
            )
        ).all()
        assert approved_checks
        assert all(check.ok for check in approved_checks)
        arrears = [
            cost
            for cost in listings["DEMO-A-002"].settlement_terms["costs"]
            if cost["kind"].startswith("annual_fee_arrears")
        ]
        assert len(arrears) == 1
        assert arrears[0]["amount"] > 0

        count_before = len(listings)
        await seed_demo(session, settings, IdNumberCipher(settings.resolved_secret_key()))
        await session.flush()
        after = (await session.scalars(select(Listing.id).where(Listing.bank_org_id == bank_a))).all()
        assert len(after) == count_before
        assert await session.scalar(select(Org.id).where(Org.id == bank_a)) is not None
        await session.rollback()
