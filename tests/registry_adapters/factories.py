"""Factories for registry records and listings, in the sandbox JSON shape (api.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from registry_adapters.base import AssetKind, AssetRecord
from registry_adapters.checks import AssetForCheck, Disclosures, ListingForCheck
from registry_adapters.sandbox import record_from_sandbox

BANK = "华夏示范银行股份有限公司苏州分行"
OTHER_BANK = "示范农村商业银行股份有限公司"
PLEDGE_NO = "Y2025980000101"
SALE = date(2026, 10, 30)
FETCHED_AT = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "epo_ops"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sandbox_json(number: str = "CN201910512345.6", **overrides: Any) -> dict[str, Any]:
    """A record that passes every check against ``listing(...)`` unless overridden."""
    record: dict[str, Any] = {
        "registry": "cnipa",
        "number": number,
        "kind": "invention_patent",
        "title": "一种高强度铝合金型材的连续挤压成形方法",
        "holder": "示范精密铝业（苏州）有限公司",
        "co_owners": [],
        "status": "in_force",
        "filed_on": "2019-05-20",
        "expires_on": "2039-05-19",
        "fees_paid_until": "2027-05-19",
        "pledges": [{"pledgee": BANK, "registration_no": PLEDGE_NO, "status": "registered"}],
        "licences": [],
        "litigation": [],
    }
    record.update(overrides)
    return record


def record(number: str = "CN201910512345.6", **overrides: Any) -> AssetRecord:
    return record_from_sandbox(sandbox_json(number, **overrides), FETCHED_AT)


def asset(
    number: str = "CN201910512345.6",
    kind: AssetKind = "invention_patent",
    registry: str = "cnipa",
    **fields: Any,
) -> AssetForCheck:
    return AssetForCheck(registry=registry, number=number, kind=kind, **fields)


def listing(
    *assets: AssetForCheck,
    bank: str = BANK,
    pledge_no: str = PLEDGE_NO,
    sale: date = SALE,
    disclosures: Disclosures | None = None,
) -> ListingForCheck:
    return ListingForCheck(
        bank_name=bank,
        pledge_registration_no=pledge_no,
        planned_sale_date=sale,
        assets=assets or (asset(),),
        disclosures=disclosures or Disclosures(),
    )


def keyed(*records: AssetRecord) -> dict[tuple[str, str], AssetRecord | None]:
    return {(r.registry, r.number): r for r in records}
