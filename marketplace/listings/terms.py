"""The settlement terms a bank fixes when it lists: pure validation and the stored JSON form.

Invariants a stored ``settlement_terms`` keeps (checked by :func:`validate_terms` on create):
- the parties' roles are among bank, guarantor, risk_pool, valuer, insurer, each at most once;
- the ratios are integer basis points summing to exactly 10 000;
- there is a bank line and its organisation is the listing bank;
- every amount is a non-negative integer in minor units; an advance is paid by a party other
  than the bank, and the advances, alone and together, are at most the claim;
- annual-fee arrears found by the registry checks appear as cost lines whose ``kind`` starts with
  :data:`ARREARS_COST_KIND`; :func:`with_arrears_costs` replaces them, so re-running the checks
  never counts arrears twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from marketplace.errors import Invalid
from marketplace.listings.schemas import SettlementTermsIn

BP_WHOLE: Final = 10_000
PARTY_ROLES: Final = ("bank", "guarantor", "risk_pool", "valuer", "insurer")
ARREARS_COST_KIND: Final = "annual_fee_arrears"


def validate_terms(terms: SettlementTermsIn, *, bank_org_id: uuid.UUID, claim: int) -> None:
    """Raise ``Invalid`` with a stable code for the first rule ``terms`` breaks."""
    roles: set[str] = set()
    for party in terms.parties:
        if party.role not in PARTY_ROLES:
            raise Invalid("unknown_role", f"role {party.role!r} is not one of {', '.join(PARTY_ROLES)}")
        if party.role in roles:
            raise Invalid("duplicate_role", f"role {party.role!r} is listed twice")
        if party.ratio_bp < 0:
            raise Invalid("negative_amount", f"the ratio of {party.role!r} is negative")
        roles.add(party.role)
    bank_lines = [party for party in terms.parties if party.role == "bank"]
    if not bank_lines:
        raise Invalid("bank_line_missing", "the settlement parties must include the bank")
    if bank_lines[0].org_id != bank_org_id:
        raise Invalid("bank_line_not_listing_bank", "the bank line must name the listing bank")
    ratio_sum = sum(party.ratio_bp for party in terms.parties)
    if ratio_sum != BP_WHOLE:
        raise Invalid("ratios_not_10000", f"the ratios sum to {ratio_sum} bp, not {BP_WHOLE}")
    for advance in terms.advances:
        if advance.role == "bank":
            raise Invalid("bank_advance", "the bank advances nothing to itself")
        if advance.role not in roles:
            raise Invalid("advance_without_party", f"{advance.role!r} advances but is not a party")
        if advance.amount < 0:
            raise Invalid("negative_amount", f"the advance of {advance.role!r} is negative")
    advances_total = sum(advance.amount for advance in terms.advances)
    if advances_total > claim:
        raise Invalid(
            "advance_above_claim", f"the advances total {advances_total}, above the claim of {claim}"
        )
    for cost in terms.costs:
        if cost.amount < 0:
            raise Invalid("negative_amount", f"the cost {cost.kind!r} is negative")
        if cost.kind.startswith(ARREARS_COST_KIND):
            raise Invalid("reserved_cost_kind", f"{ARREARS_COST_KIND} costs come from the registry checks")


def terms_json(terms: SettlementTermsIn) -> dict[str, Any]:
    """The stored form: plain JSON with organisation ids as strings."""
    return {
        "parties": [
            {"role": party.role, "org_id": str(party.org_id), "ratio_bp": party.ratio_bp}
            for party in terms.parties
        ],
        "advances": [{"role": advance.role, "amount": advance.amount} for advance in terms.advances],
        "costs": [{"kind": cost.kind, "amount": cost.amount} for cost in terms.costs],
    }


def party_org_ids(terms: Mapping[str, Any]) -> set[uuid.UUID]:
    """The organisations named in stored terms (unparseable ids are ignored, never trusted)."""
    ids: set[uuid.UUID] = set()
    for party in terms.get("parties") or ():
        try:
            ids.add(uuid.UUID(str(party["org_id"])))
        except (KeyError, TypeError, ValueError):
            continue
    return ids


def arrears_kind(asset_number: str) -> str:
    return f"{ARREARS_COST_KIND}:{asset_number}"


def with_arrears_costs(terms: Mapping[str, Any], arrears: Iterable[tuple[str, int]]) -> dict[str, Any]:
    """A copy of ``terms`` whose arrears cost lines are exactly ``arrears`` (asset number, amount)."""
    costs = [
        dict(cost) for cost in terms.get("costs") or () if not str(cost["kind"]).startswith(ARREARS_COST_KIND)
    ]
    costs.extend({"kind": arrears_kind(number), "amount": amount} for number, amount in arrears if amount > 0)
    return {**terms, "costs": costs}
