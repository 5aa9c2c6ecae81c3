"""The sandbox registry: records an operator enters (api.md "Sandbox registry"), read like any answer.

Invariants
- ``record_from_sandbox`` is pure: the same mapping and ``fetched_at`` give the same record.
- A record's ``raw`` is the canonical JSON of the mapping it came from (keys sorted, UTF-8, no
  insignificant whitespace, dates as ISO strings), so two mappings that differ only in key order
  have the same ``raw_sha256``.
- An invalid mapping is refused whole with ``RegistryError("bad_answer")``; nothing is guessed.
- The adapter reads through ``SandboxRecordStore``, so the marketplace backs it with its database
  and tests with ``InMemorySandboxStore``; it imports nothing from the marketplace.

The sandbox JSON (api.md) is ``{registry, number, kind, title, holder, co_owners, status,
expires_on, fees_paid_until, pledges: [{pledgee, registration_no, status}], licences: [{licensee,
kind, until}]}``; this module also reads the optional ``filed_on``, ``litigation: [str]``,
``family: str`` (a trademark family that must be sold together) and, per pledge,
``registered_on`` and ``pledgor``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from registry_adapters.base import (
    ASSET_KINDS,
    ASSET_STATUSES,
    LICENCE_KINDS,
    PLEDGE_STATUSES,
    AssetKind,
    AssetRecord,
    AssetStatus,
    LicenceKind,
    LicenceRecord,
    PledgeRecord,
    PledgeStatus,
    RegistryError,
    anniversary,
    statutory_expiry,
)

SOURCE = "sandbox"

_Choice = TypeVar("_Choice", bound=str)


def _bad(detail: str) -> RegistryError:
    return RegistryError("bad_answer", f"sandbox record: {detail}")


def _json_default(value: object) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def canonical_json(mapping: Mapping[str, Any]) -> str:
    """The mapping as canonical JSON text (sorted keys, compact, non-ASCII kept)."""
    try:
        return json.dumps(
            mapping, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default
        )
    except (TypeError, ValueError) as exc:
        raise _bad(str(exc)) from exc


def _text(mapping: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = mapping.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _bad(f"{key} must be a non-empty string")
    return value.strip()


def _optional_text(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{key} must be a string or null")
    return value.strip() or None


def _date(mapping: Mapping[str, Any], key: str) -> date | None:
    value = mapping.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        raise _bad(f"{key} must be a date, not a date-time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise _bad(f"{key} is not an ISO date: {value!r}") from exc
    raise _bad(f"{key} must be an ISO date string or null")


def _items(mapping: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = mapping.get(key)
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _bad(f"{key} must be a list")
    return value


def _strings(mapping: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = _items(mapping, key)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise _bad(f"{key} must be a list of non-empty strings")
    return tuple(str(item).strip() for item in items)


def _choice(mapping: Mapping[str, Any], key: str, allowed: Sequence[_Choice]) -> _Choice:
    value = mapping.get(key)
    for option in allowed:
        if value == option:
            return option
    raise _bad(f"{key} must be one of {', '.join(allowed)}, not {value!r}")


def _mapping(item: object, where: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise _bad(f"each of {where} must be an object")
    return cast(Mapping[str, Any], item)


def _pledge(item: object) -> PledgeRecord:
    entry = _mapping(item, "pledges")
    status: PledgeStatus = _choice(entry, "status", PLEDGE_STATUSES)
    return PledgeRecord(
        pledgee=_text(entry, "pledgee"),
        registration_no=_text(entry, "registration_no"),
        status=status,
        registered_on=_date(entry, "registered_on"),
        pledgor=_optional_text(entry, "pledgor"),
        released_on=_date(entry, "released_on"),
    )


def _licence(item: object) -> LicenceRecord:
    entry = _mapping(item, "licences")
    kind: LicenceKind = _choice(entry, "kind", LICENCE_KINDS)
    return LicenceRecord(licensee=_text(entry, "licensee"), kind=kind, until=_date(entry, "until"))


def record_from_sandbox(mapping: Mapping[str, Any], fetched_at: datetime) -> AssetRecord:
    """The sandbox JSON as an ``AssetRecord`` whose ``raw`` is the mapping's canonical JSON."""
    if not isinstance(mapping, Mapping):
        raise _bad("must be an object")
    raw = canonical_json(mapping)
    kind: AssetKind = _choice(mapping, "kind", ASSET_KINDS)
    status: AssetStatus = _choice(mapping, "status", ASSET_STATUSES)
    return AssetRecord(
        registry=_text(mapping, "registry"),
        number=_text(mapping, "number"),
        kind=kind,
        title=_text(mapping, "title", required=False),
        holder=_text(mapping, "holder"),
        co_owners=_strings(mapping, "co_owners"),
        status=status,
        filed_on=_date(mapping, "filed_on"),
        expires_on=_date(mapping, "expires_on"),
        fees_paid_until=_date(mapping, "fees_paid_until"),
        pledges=tuple(_pledge(item) for item in _items(mapping, "pledges")),
        licences=tuple(_licence(item) for item in _items(mapping, "licences")),
        litigation=_strings(mapping, "litigation"),
        family=_optional_text(mapping, "family"),
        raw=raw,
        fetched_at=fetched_at,
        source=SOURCE,
    )


class SandboxRecordStore(Protocol):
    """Where sandbox records live (the marketplace's database, or memory in tests)."""

    async def get(self, registry: str, number: str) -> Mapping[str, Any] | None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxRegistry:
    """A ``RegistryAdapter`` over a ``SandboxRecordStore``; serves every registry name."""

    name = SOURCE

    def __init__(self, store: SandboxRecordStore, clock: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._clock = clock

    async def lookup(self, registry: str, number: str) -> AssetRecord | None:
        mapping = await self._store.get(registry, number)
        if mapping is None:
            return None
        record = record_from_sandbox(mapping, self._clock())
        if (record.registry, record.number) != (registry, number):
            raise _bad(f"asked for {registry}/{number}, got {record.registry}/{record.number}")
        return record


class InMemorySandboxStore:
    """A ``SandboxRecordStore`` in a dict, keyed by ``(registry, number)``."""

    def __init__(self, records: Iterable[Mapping[str, Any]] = ()) -> None:
        self._records: dict[tuple[str, str], Mapping[str, Any]] = {}
        for record in records:
            self.put(record)

    def put(self, record: Mapping[str, Any]) -> None:
        self._records[(str(record["registry"]), str(record["number"]))] = dict(record)

    async def get(self, registry: str, number: str) -> Mapping[str, Any] | None:
        return self._records.get((registry, number))


def cn_application_number(year: int, right_type: int, serial: int) -> str:
    """A CNIPA application number ``CNyyyyTsssssss.c`` with its check digit.

    ``right_type`` is 1 invention, 2 utility model, 3 design. The check digit is the weighted sum
    of the 12 digits (weights 2 to 9, then 2 to 5) modulo 11, ``X`` for 10 (ZC 0006-2003).
    """
    body = f"{year:04d}{right_type:01d}{serial:07d}"
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    check = sum(int(digit) * weight for digit, weight in zip(body, weights, strict=True)) % 11
    return f"CN{body}.{'X' if check == 10 else check}"


DEMO_PLEDGE_A = "Y2025980000101"
DEMO_PLEDGE_A_UNPAID = "Y2025980000102"
DEMO_PLEDGE_B = "Y2024980000203"
DEMO_PLEDGE_A_CO_OWNED = "Y2025980000104"
DEMO_PLEDGE_A_MARKS = "TMZ2025000105"
DEMO_PLEDGE_A_SOFTWARE = "ZQ2025000106"
DEMO_PLEDGE_A_LAPSED = "Y2023980000107"
DEMO_PLEDGE_A_LICENSED = "Y2025980000108"
DEMO_MARK_FAMILY = "TMF-LONGMEN-06"

_DEMO_HOLDER = "示范精密铝业（苏州）有限公司"


def _patent(kind: AssetKind, number: str, title: str, filed_on: date, **fields: Any) -> dict[str, Any]:
    expires_on = statutory_expiry(kind, filed_on)
    return {
        "registry": "cnipa",
        "number": number,
        "kind": kind,
        "title": title,
        "holder": _DEMO_HOLDER,
        "co_owners": [],
        "status": "in_force",
        "filed_on": filed_on.isoformat(),
        "expires_on": expires_on.isoformat() if expires_on else None,
        "licences": [],
        "litigation": [],
        **fields,
    }


def _pledged(pledgee: str, registration_no: str, registered_on: date) -> list[dict[str, Any]]:
    return [
        {
            "pledgee": pledgee,
            "registration_no": registration_no,
            "status": "registered",
            "registered_on": registered_on.isoformat(),
            "pledgor": _DEMO_HOLDER,
        }
    ]


def demo_records(bank_a: str, bank_b: str, today: date) -> list[dict[str, Any]]:
    """SYNTHETIC sandbox records for the demo seed: invented numbers, names and events.

    Dates are relative to ``today`` so the demo stays valid whatever day it is seeded. The set:
    an invention patent and a utility model pledged together to ``bank_a`` under
    ``DEMO_PLEDGE_A`` (the lot that passes every check); an invention patent with annual fees
    unpaid; one pledged to ``bank_b``; a co-owned patent; a family of three similar marks
    (``DEMO_MARK_FAMILY``) that must be sold together; a software copyright; a lapsed utility
    model; and a design under an exclusive licence with a pending invalidation.
    """

    def years_ago(years: int, days: int = 0) -> date:
        return anniversary(today, -years) - timedelta(days=days)

    paid = (today + timedelta(days=240)).isoformat()
    invention_filed = years_ago(6, 35)
    utility_filed = years_ago(4, 80)
    unpaid_filed = years_ago(5, 120)
    b_filed = years_ago(7, 10)
    co_filed = years_ago(5, 200)
    lapsed_filed = years_ago(8, 60)
    design_filed = years_ago(3, 150)
    marks_registered = years_ago(5, 20)
    marks_expire = anniversary(marks_registered, 10) - timedelta(days=1)
    software_published = years_ago(3)

    records: list[dict[str, Any]] = [
        _patent(
            "invention_patent",
            cn_application_number(invention_filed.year, 1, 512345),
            "一种高强度铝合金型材的连续挤压成形方法",
            invention_filed,
            fees_paid_until=paid,
            pledges=_pledged(bank_a, DEMO_PLEDGE_A, today - timedelta(days=420)),
        ),
        _patent(
            "utility_model",
            cn_application_number(utility_filed.year, 2, 834567),
            "一种挤压模具的快速冷却装置",
            utility_filed,
            fees_paid_until=paid,
            pledges=_pledged(bank_a, DEMO_PLEDGE_A, today - timedelta(days=420)),
        ),
        _patent(
            "invention_patent",
            cn_application_number(unpaid_filed.year, 1, 223344),
            "铝合金表面微弧氧化处理工艺",
            unpaid_filed,
            fees_paid_until=(today - timedelta(days=45)).isoformat(),
            pledges=_pledged(bank_a, DEMO_PLEDGE_A_UNPAID, today - timedelta(days=380)),
        ),
        _patent(
            "invention_patent",
            cn_application_number(b_filed.year, 1, 98765),
            "一种锂电池极片的激光分切方法",
            b_filed,
            holder="示范新能源材料有限公司",
            fees_paid_until=paid,
            pledges=[
                {
                    "pledgee": bank_b,
                    "registration_no": DEMO_PLEDGE_B,
                    "status": "registered",
                    "registered_on": (today - timedelta(days=700)).isoformat(),
                    "pledgor": "示范新能源材料有限公司",
                }
            ],
        ),
        _patent(
            "invention_patent",
            cn_application_number(co_filed.year, 1, 887766),
            "复合材料层合板的超声无损检测方法",
            co_filed,
            co_owners=["示范理工大学"],
            fees_paid_until=paid,
            pledges=_pledged(bank_a, DEMO_PLEDGE_A_CO_OWNED, today - timedelta(days=300)),
        ),
        _patent(
            "utility_model",
            cn_application_number(lapsed_filed.year, 2, 456789),
            "一种型材自动码垛装置",
            lapsed_filed,
            status="lapsed",
            fees_paid_until=(today - timedelta(days=400)).isoformat(),
            pledges=_pledged(bank_a, DEMO_PLEDGE_A_LAPSED, today - timedelta(days=900)),
        ),
        _patent(
            "design",
            cn_application_number(design_filed.year, 3, 345678),
            "铝合金门窗框型材",
            design_filed,
            fees_paid_until=paid,
            licences=[
                {
                    "licensee": "示范门窗制造有限公司",
                    "kind": "exclusive",
                    "until": (today + timedelta(days=730)).isoformat(),
                }
            ],
            litigation=["无效宣告请求审查中（示例案号 4W000123，合成数据）"],
            pledges=_pledged(bank_a, DEMO_PLEDGE_A_LICENSED, today - timedelta(days=200)),
        ),
    ]
    for offset, mark in enumerate(("龙门", "龙门 LONGMEN", "龙门铝业")):
        records.append(
            {
                "registry": "cntmo",
                "number": str(40123456 + offset),
                "kind": "trademark",
                "title": f"{mark}（第6类：普通金属及其合金、金属建筑材料）",
                "holder": _DEMO_HOLDER,
                "co_owners": [],
                "status": "in_force",
                "expires_on": marks_expire.isoformat(),
                "fees_paid_until": None,
                "family": DEMO_MARK_FAMILY,
                "licences": [],
                "litigation": [],
                "pledges": _pledged(bank_a, DEMO_PLEDGE_A_MARKS, today - timedelta(days=250)),
            }
        )
    records.append(
        {
            "registry": "ccpc",
            "number": f"{software_published.year}SR0456789",
            "kind": "software_copyright",
            "title": "示范挤压生产线智能排产系统 V2.0",
            "holder": _DEMO_HOLDER,
            "co_owners": [],
            "status": "in_force",
            "filed_on": software_published.isoformat(),
            "expires_on": date(software_published.year + 50, 12, 31).isoformat(),
            "fees_paid_until": None,
            "licences": [],
            "litigation": [],
            "pledges": _pledged(bank_a, DEMO_PLEDGE_A_SOFTWARE, today - timedelta(days=150)),
        }
    )
    return records
