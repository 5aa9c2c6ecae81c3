"""The database behind the registry adapters, and the adapter the marketplace looks assets up with.

Invariants:
- the stores read committed rows through a short session of their own (``from_sessionmaker``),
  so the long-lived adapter in ``ctx.services["registry"]`` never shares a request's session; the
  seed and tests may bind them to one session instead (``from_session``);
- only manual evidence a second operator approved is ever returned, the latest approval first;
  approved manual evidence overrides the sandbox (and any later adapter) for its asset;
- a record's trademark family is answered from the ``family`` columns, so the checks see family
  members that are not in the lot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.db import utcnow
from marketplace.registry.models import ManualEvidenceRecord, SandboxRecord
from registry_adapters.base import AssetRecord, RegistryAdapter
from registry_adapters.chain import ChainedRegistry
from registry_adapters.manual import ManualEvidence, ManualRegistry
from registry_adapters.sandbox import SandboxRegistry, record_from_sandbox

AssetKey = tuple[str, str]
SessionSource = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def from_sessionmaker(maker: async_sessionmaker[AsyncSession]) -> SessionSource:
    return maker


def from_session(session: AsyncSession) -> SessionSource:
    @asynccontextmanager
    async def borrowed() -> AsyncIterator[AsyncSession]:
        yield session

    return borrowed


class DbSandboxStore:
    """The ``SandboxRecordStore`` over the ``sandbox_records`` table."""

    def __init__(self, sessions: SessionSource) -> None:
        self._sessions = sessions

    async def get(self, registry: str, number: str) -> Mapping[str, Any] | None:
        async with self._sessions() as session:
            data = await session.scalar(
                select(SandboxRecord.data).where(
                    SandboxRecord.registry_name == registry, SandboxRecord.number == number
                )
            )
        return dict(data) if data is not None else None

    async def family_members(self, family: str) -> frozenset[AssetKey]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(SandboxRecord.registry_name, SandboxRecord.number).where(
                    SandboxRecord.family == family
                )
            )
            return frozenset((registry, number) for registry, number in rows.all())


def evidence_from_row(row: ManualEvidenceRecord) -> ManualEvidence:
    """The stored evidence as the pure ``ManualEvidence`` (its fields parsed like a sandbox record)."""
    parsed = record_from_sandbox(row.data, utcnow())
    return ManualEvidence(
        registry=parsed.registry,
        number=parsed.number,
        kind=parsed.kind,
        title=parsed.title,
        holder=parsed.holder,
        co_owners=parsed.co_owners,
        status=parsed.status,
        filed_on=parsed.filed_on,
        expires_on=parsed.expires_on,
        fees_paid_until=parsed.fees_paid_until,
        pledges=parsed.pledges,
        licences=parsed.licences,
        litigation=parsed.litigation,
        family=parsed.family,
        document_sha256=row.document_sha256,
        entered_by=str(row.entered_by),
        approved_by=str(row.approved_by) if row.approved_by else None,
    )


class DbManualEvidenceStore:
    """The approved manual evidence, as ``registry_adapters.manual.ManualEvidenceStore``."""

    def __init__(self, sessions: SessionSource) -> None:
        self._sessions = sessions

    async def get(self, registry: str, number: str) -> ManualEvidence | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(ManualEvidenceRecord)
                .where(
                    ManualEvidenceRecord.registry_name == registry,
                    ManualEvidenceRecord.number == number,
                    ManualEvidenceRecord.approved_by.is_not(None),
                )
                .order_by(ManualEvidenceRecord.approved_at.desc(), ManualEvidenceRecord.id)
                .limit(1)
            )
            return evidence_from_row(row) if row is not None else None

    async def family_members(self, family: str) -> frozenset[AssetKey]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(ManualEvidenceRecord.registry_name, ManualEvidenceRecord.number).where(
                    ManualEvidenceRecord.family == family, ManualEvidenceRecord.approved_by.is_not(None)
                )
            )
            return frozenset((registry, number) for registry, number in rows.all())


@runtime_checkable
class FamilyIndex(Protocol):
    async def family_members(self, family: str) -> frozenset[AssetKey]: ...


class MarketplaceRegistry:
    """The adapters asked in order (approved manual evidence first), plus the family index."""

    def __init__(self, adapters: Sequence[RegistryAdapter], families: Sequence[FamilyIndex] = ()) -> None:
        self._chain = ChainedRegistry(adapters)
        self._families = tuple(families)
        self.name = self._chain.name

    async def lookup(self, registry: str, number: str) -> AssetRecord | None:
        return await self._chain.lookup(registry, number)

    async def family_members(self, family: str) -> frozenset[AssetKey]:
        members: set[AssetKey] = set()
        for index in self._families:
            members |= await index.family_members(family)
        return frozenset(members)


def marketplace_registry(
    sessions: SessionSource,
    *,
    sandbox: bool,
    more: Sequence[RegistryAdapter] = (),
    clock: Callable[[], datetime] = utcnow,
) -> MarketplaceRegistry:
    """Approved manual evidence, then the sandbox when it is enabled, then ``more`` (e.g. EPO OPS)."""
    manual = DbManualEvidenceStore(sessions)
    adapters: list[RegistryAdapter] = [ManualRegistry(manual, clock)]
    families: list[FamilyIndex] = [manual]
    if sandbox:
        store = DbSandboxStore(sessions)
        adapters.append(SandboxRegistry(store, clock))
        families.append(store)
    adapters.extend(more)
    return MarketplaceRegistry(adapters, families)


def registry_for_app(
    sessionmaker: async_sessionmaker[AsyncSession], *, sandbox_enabled: bool
) -> MarketplaceRegistry:
    """The adapter ``create_app`` puts in ``ctx.services["registry"]``."""
    return marketplace_registry(from_sessionmaker(sessionmaker), sandbox=sandbox_enabled)
