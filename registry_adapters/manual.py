"""Manual evidence: an operator transcribes a registry extract, a second operator approves it.

Invariants
- Evidence is immutable; ``approve`` returns a new value and never changes the one it was given.
- ``record_from_manual`` refuses (``not_approved``) until an operator other than the one who
  entered the evidence has approved it; ``approve`` by the enterer raises ``same_operator``, and a
  second, different approval of approved evidence raises ``already_approved`` (approving again as
  the same approver is a no-op, so retries are safe).
- ``document_sha256`` is the SHA-256 (64 lower-case hex digits) of the scanned extract the
  evidence was transcribed from; the record's ``raw`` is the canonical JSON of the evidence
  (including that digest and both operators), so the record's ``raw_sha256`` binds all three.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import Protocol

from registry_adapters.base import (
    ASSET_KINDS,
    ASSET_STATUSES,
    AssetKind,
    AssetRecord,
    AssetStatus,
    LicenceRecord,
    PledgeRecord,
    RegistryError,
)

SOURCE = "manual"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualEvidence:
    registry: str
    number: str
    kind: AssetKind
    title: str
    holder: str
    co_owners: tuple[str, ...] = ()
    status: AssetStatus
    filed_on: date | None = None
    expires_on: date | None = None
    fees_paid_until: date | None = None
    pledges: tuple[PledgeRecord, ...] = ()
    licences: tuple[LicenceRecord, ...] = ()
    litigation: tuple[str, ...] = ()
    family: str | None = None
    document_sha256: str
    entered_by: str
    approved_by: str | None = None

    def __post_init__(self) -> None:
        if not self.registry.strip() or not self.number.strip():
            raise RegistryError("bad_record", "manual evidence needs a registry and a number")
        if self.kind not in ASSET_KINDS or self.status not in ASSET_STATUSES:
            raise RegistryError("bad_record", "manual evidence has an unknown kind or status")
        if not _SHA256.fullmatch(self.document_sha256):
            raise RegistryError("bad_record", "document_sha256 must be 64 lower-case hex digits")
        if not self.entered_by.strip():
            raise RegistryError("bad_record", "manual evidence must name the operator who entered it")


def approve(evidence: ManualEvidence, operator_id: str) -> ManualEvidence:
    """The evidence approved by ``operator_id``, who must not be the operator who entered it."""
    if not operator_id.strip():
        raise RegistryError("bad_record", "an approval must name the approving operator")
    if operator_id == evidence.entered_by:
        raise RegistryError("same_operator", "the operator who entered the evidence cannot approve it")
    if evidence.approved_by == operator_id:
        return evidence
    if evidence.approved_by is not None:
        raise RegistryError("already_approved", f"already approved by {evidence.approved_by}")
    return replace(evidence, approved_by=operator_id)


def _json_default(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")  # pragma: no cover


def evidence_json(evidence: ManualEvidence) -> str:
    """The evidence as canonical JSON (sorted keys, compact, dates as ISO strings)."""
    return json.dumps(
        asdict(evidence), sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default
    )


def record_from_manual(evidence: ManualEvidence, fetched_at: datetime) -> AssetRecord:
    """The approved evidence as an ``AssetRecord``; ``not_approved`` until a second operator approved."""
    if evidence.approved_by is None or evidence.approved_by == evidence.entered_by:
        raise RegistryError(
            "not_approved", f"manual evidence for {evidence.number} awaits a second operator's approval"
        )
    return AssetRecord(
        registry=evidence.registry,
        number=evidence.number,
        kind=evidence.kind,
        title=evidence.title,
        holder=evidence.holder,
        co_owners=evidence.co_owners,
        status=evidence.status,
        filed_on=evidence.filed_on,
        expires_on=evidence.expires_on,
        fees_paid_until=evidence.fees_paid_until,
        pledges=evidence.pledges,
        licences=evidence.licences,
        litigation=evidence.litigation,
        family=evidence.family,
        raw=evidence_json(evidence),
        fetched_at=fetched_at,
        source=SOURCE,
    )


class ManualEvidenceStore(Protocol):
    async def get(self, registry: str, number: str) -> ManualEvidence | None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ManualRegistry:
    """A ``RegistryAdapter`` over stored manual evidence; unapproved evidence raises ``not_approved``."""

    name = SOURCE

    def __init__(self, store: ManualEvidenceStore, clock: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._clock = clock

    async def lookup(self, registry: str, number: str) -> AssetRecord | None:
        evidence = await self._store.get(registry, number)
        if evidence is None:
            return None
        return record_from_manual(evidence, self._clock())


class InMemoryManualStore:
    def __init__(self) -> None:
        self._evidence: dict[tuple[str, str], ManualEvidence] = {}

    def put(self, evidence: ManualEvidence) -> None:
        self._evidence[(evidence.registry, evidence.number)] = evidence

    async def get(self, registry: str, number: str) -> ManualEvidence | None:
        return self._evidence.get((registry, number))
