"""Registry work done by operators: sandbox records, manual evidence, the post-sale filings.

Invariants:
- sandbox records exist only while ``settings.sandbox_registry_enabled`` (``sandbox_disabled``
  otherwise); a record is stored only if ``record_from_sandbox`` accepts it, so every stored
  record reads back as a registry answer;
- manual evidence counts only after a second, different operator approved it (the pure rule
  ``registry_adapters.manual.approve``: ``same_operator``, ``already_approved``);
- filings are prepared only for a sold listing, at most one live task per kind (preparing again
  returns the live ones); a task is confirmed by an operator and confirming twice is a no-op;
  the transfer counts as registered (:func:`transfer_confirmed`) once both the pledge release and
  the transfer are confirmed, and only then may proceeds be paid out (domain.md "After the hammer").
"""

from __future__ import annotations

import hashlib
import html
import uuid
from datetime import datetime
from typing import Any, Final

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Org
from marketplace.accounts.security import Principal
from marketplace.db import utcnow
from marketplace.deps import require
from marketplace.errors import Conflict, Forbidden, Invalid, NotFound
from marketplace.listings.models import Listing
from marketplace.listings.service import get_listing, visible_confidential
from marketplace.registry.models import FilingTask, ManualEvidenceRecord, SandboxRecord
from marketplace.registry.schemas import (
    FilingOut,
    ManualEvidenceIn,
    ManualEvidenceOut,
    RegistryFields,
    SandboxRecordOut,
)
from marketplace.registry.store import evidence_from_row
from registry_adapters.base import RegistryError
from registry_adapters.manual import approve
from registry_adapters.sandbox import record_from_sandbox

FILING_ORDER: Final = ("pledge_release", "transfer")
SOLD_FOR_FILING: Final = frozenset({"sold", "settled"})


def _record_data(fields: RegistryFields) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(fields)
    data = {key: value for key, value in data.items() if key in RegistryFields.__struct_fields__}
    try:
        record_from_sandbox(data, utcnow())
    except RegistryError as exc:
        raise Invalid("bad_record", exc.detail) from exc
    return data


def require_sandbox(enabled: bool) -> None:
    if not enabled:
        raise NotFound("sandbox_disabled", "the sandbox registry is not enabled on this exchange")


def sandbox_out(row: SandboxRecord) -> SandboxRecordOut:
    fields = msgspec.convert(row.data, RegistryFields)
    return SandboxRecordOut(
        **{name: getattr(fields, name) for name in RegistryFields.__struct_fields__},
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


async def put_sandbox_record(
    session: AsyncSession, principal: Principal | None, fields: RegistryFields
) -> tuple[SandboxRecord, bool]:
    """Create or replace the record of ``(registry, number)``; returns it and whether it is new."""
    caller = require(principal, "operator")
    return await upsert_sandbox_record(session, _record_data(fields), caller.user_id)


async def upsert_sandbox_record(
    session: AsyncSession, data: dict[str, Any], updated_by: uuid.UUID | None
) -> tuple[SandboxRecord, bool]:
    registry, number = str(data["registry"]), str(data["number"])
    row = await session.scalar(
        select(SandboxRecord).where(SandboxRecord.registry_name == registry, SandboxRecord.number == number)
    )
    created = row is None
    if row is None:
        row = SandboxRecord(registry_name=registry, number=number)
        session.add(row)
    row.kind = str(data["kind"])
    row.family = data.get("family") or None
    row.data = data
    row.updated_at = utcnow()
    row.updated_by = updated_by
    await session.flush()
    return row, created


async def get_sandbox_record(
    session: AsyncSession, principal: Principal | None, registry: str, number: str
) -> SandboxRecord:
    require(principal, "operator")
    row = await session.scalar(
        select(SandboxRecord).where(SandboxRecord.registry_name == registry, SandboxRecord.number == number)
    )
    if row is None:
        raise NotFound("not_found", f"no sandbox record {registry}/{number}")
    return row


def evidence_out(row: ManualEvidenceRecord) -> ManualEvidenceOut:
    fields = msgspec.convert(row.data, RegistryFields)
    return ManualEvidenceOut(
        **{name: getattr(fields, name) for name in RegistryFields.__struct_fields__},
        id=row.id,
        document_sha256=row.document_sha256,
        entered_by=row.entered_by,
        entered_at=row.entered_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        state="approved" if row.approved_by else "awaiting_approval",
    )


async def enter_manual_evidence(
    session: AsyncSession, principal: Principal | None, body: ManualEvidenceIn
) -> ManualEvidenceRecord:
    caller = require(principal, "operator")
    data = _record_data(body)
    row = ManualEvidenceRecord(
        registry_name=body.registry,
        number=body.number,
        family=body.family,
        data=data,
        document_sha256=body.document_sha256,
        entered_by=caller.user_id,
        entered_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def approve_manual_evidence(
    session: AsyncSession, principal: Principal | None, evidence_id: uuid.UUID
) -> ManualEvidenceRecord:
    """A second operator approves; the one who entered it gets ``same_operator`` (409)."""
    caller = require(principal, "operator")
    row = await session.scalar(
        select(ManualEvidenceRecord).where(ManualEvidenceRecord.id == evidence_id).with_for_update()
    )
    if row is None:
        raise NotFound("not_found", "no such manual evidence")
    try:
        approved = approve(evidence_from_row(row), str(caller.user_id))
    except RegistryError as exc:
        raise Conflict(exc.code, exc.detail) from exc
    if row.approved_by is None and approved.approved_by is not None:
        row.approved_by = caller.user_id
        row.approved_at = utcnow()
        await session.flush()
    return row


def filing_out(task: FilingTask) -> FilingOut:
    return FilingOut(
        id=task.id,
        listing_id=task.listing_id,
        kind=task.kind,
        status=task.status,
        transferee=task.transferee,
        document_html=task.document_html,
        document_sha256=task.document_sha256,
        prepared_at=task.prepared_at,
        confirmed_by=task.confirmed_by,
        confirmed_at=task.confirmed_at,
        note=task.note,
    )


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def filing_document(
    kind: str, listing: Listing, bank_name: str, transferee: str | None, now: datetime
) -> str:
    """The application filed with the registry, as a self-contained HTML page (all values escaped)."""
    heading = (
        "质押注销登记申请 Application to cancel the pledge registration"
        if kind == "pledge_release"
        else "转让登记申请 Application to register the transfer"
    )
    rows = "".join(
        f"<tr><td>{asset.position}</td><td>{_esc(asset.kind)}</td><td>{_esc(asset.registry_name)}</td>"
        f"<td>{_esc(asset.number)}</td><td>{_esc(asset.title)}</td></tr>"
        for asset in listing.assets
    )
    if kind == "pledge_release":
        parties = (
            f"<p>质权人 Pledgee: {_esc(bank_name)}</p><p>出质人 Pledgor: {_esc(listing.pledgor_name)}</p>"
            f"<p>质押登记号 Pledge registration no.: {_esc(listing.pledge_registration_no)}</p>"
            "<p>The secured claim is being enforced by the disposal of the pledged rights listed below; "
            "the pledgee applies for the cancellation of the pledge registration.</p>"
        )
    else:
        parties = (
            f"<p>转让人 Transferor: {_esc(listing.pledgor_name)}</p>"
            f"<p>受让人 Transferee: {_esc(transferee or '(to be completed from the sale confirmation)')}</p>"
            f"<p>依据 Basis: the disposal sale of lot {_esc(listing.id)} by pledgee {_esc(bank_name)}</p>"
        )
    return (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        f"<title>{_esc(heading)}</title></head><body>"
        f"<h1>{_esc(heading)}</h1><p>Lot: {_esc(listing.title)} ({_esc(listing.id)})</p>{parties}"
        "<table><thead><tr><th>#</th><th>kind</th><th>registry</th><th>number</th><th>title</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p>Prepared {_esc(now.isoformat())}</p></body></html>"
    )


async def live_filings(session: AsyncSession, listing_id: uuid.UUID) -> list[FilingTask]:
    rows = await session.scalars(
        select(FilingTask)
        .where(FilingTask.listing_id == listing_id, FilingTask.status != "rejected")
        .order_by(FilingTask.prepared_at, FilingTask.kind)
    )
    return list(rows.all())


async def prepare_filings(
    session: AsyncSession,
    listing: Listing,
    *,
    actor_id: uuid.UUID | None,
    transferee: str | None = None,
    now: datetime | None = None,
) -> list[FilingTask]:
    """The pledge-release and transfer filings of a sold listing (existing live ones are kept)."""
    if listing.status not in SOLD_FOR_FILING:
        raise Conflict("not_sold", "filings are prepared once the lot is sold")
    now = now or utcnow()
    existing = {task.kind: task for task in await live_filings(session, listing.id)}
    bank_name = await session.scalar(select(Org.name).where(Org.id == listing.bank_org_id)) or ""
    for kind in FILING_ORDER:
        if kind in existing:
            continue
        document = filing_document(kind, listing, bank_name, transferee, now)
        task = FilingTask(
            listing_id=listing.id,
            kind=kind,
            status="prepared",
            transferee=transferee if kind == "transfer" else None,
            document_html=document,
            document_sha256=hashlib.sha256(document.encode("utf-8")).hexdigest(),
            prepared_by=actor_id,
            prepared_at=now,
        )
        session.add(task)
        existing[kind] = task
    await session.flush()
    return [existing[kind] for kind in FILING_ORDER]


async def prepare_filings_for(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID, transferee: str | None
) -> list[FilingTask]:
    caller = require(principal, "operator")
    listing = await get_listing(session, listing_id, caller, lock=True)
    return await prepare_filings(session, listing, actor_id=caller.user_id, transferee=transferee)


async def filings_of(
    session: AsyncSession, principal: Principal | None, listing_id: uuid.UUID
) -> list[FilingTask]:
    caller = require(principal)
    listing = await get_listing(session, listing_id, caller)
    if not visible_confidential(caller, listing):
        raise Forbidden("not_a_party", "filings are shown to the listing bank, the parties and operators")
    rows = await session.scalars(
        select(FilingTask)
        .where(FilingTask.listing_id == listing.id)
        .order_by(FilingTask.prepared_at, FilingTask.kind)
    )
    return list(rows.all())


async def confirm_filing(
    session: AsyncSession, principal: Principal | None, filing_id: uuid.UUID, note: str = ""
) -> FilingTask:
    """The registry confirmed the filing (operator); confirming a confirmed task changes nothing."""
    caller = require(principal, "operator")
    task = await session.scalar(select(FilingTask).where(FilingTask.id == filing_id).with_for_update())
    if task is None:
        raise NotFound("not_found", "no such filing")
    if task.status == "confirmed":
        return task
    if task.status == "rejected":
        raise Conflict("filing_rejected", "a rejected filing cannot be confirmed; prepare a new one")
    task.status = "confirmed"
    task.confirmed_by = caller.user_id
    task.confirmed_at = utcnow()
    task.note = note
    await session.flush()
    return task


async def transfer_confirmed(session: AsyncSession, listing_id: uuid.UUID) -> bool:
    """Whether both the pledge release and the transfer of the listing are confirmed."""
    confirmed = set(
        (
            await session.scalars(
                select(FilingTask.kind).where(
                    FilingTask.listing_id == listing_id, FilingTask.status == "confirmed"
                )
            )
        ).all()
    )
    return confirmed >= set(FILING_ORDER)
