"""The listing wizard's form, read into the API's listing draft (pure: no I/O).

Invariants:
- amounts are typed in yuan and become fen exactly (:func:`frontend.formatting.parse_amount`),
  ratios are typed in percent and become basis points exactly; nothing is rounded;
- the result is the JSON body ``POST /api/listings`` takes; the caller validates it with the same
  ``ListingCreate`` struct and the same service, so the wizard refuses what the API refuses;
- a party takes part when it has a ratio or an advance; the bank line is always present and
  names the caller's bank;
- a problem in a field is reported as ``FormValueError`` with the field's name in ``detail``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

from frontend.formatting import FormValueError, parse_amount, parse_percent

PARTY_ROLES: Final = ("bank", "guarantor", "risk_pool", "valuer", "insurer")
COST_FIELDS: Final = (
    ("valuation_fee", "cost_valuation_fee"),
    ("registry_fee", "cost_registry_fee"),
    ("announcement", "cost_announcement"),
)
LICENCE_KINDS: Final = ("exclusive", "sole", "ordinary")

Form = Mapping[str, Sequence[str]]


def _one(form: Form, name: str) -> str:
    values = form.get(name) or []
    return values[-1].strip() if values else ""


def _required(form: Form, name: str) -> str:
    value = _one(form, name)
    if not value:
        raise FormValueError("required", f"{name} is required")
    return value


def _amount(form: Form, name: str, *, required: bool = True) -> int | None:
    text = _one(form, name)
    if not text:
        if required:
            raise FormValueError("required", f"{name} is required")
        return None
    try:
        return parse_amount(text)
    except FormValueError as exc:
        raise FormValueError(exc.code, f"{name}: {exc.detail}") from exc


def _date(form: Form, name: str, *, required: bool = True) -> str | None:
    text = _one(form, name)
    if not text:
        if required:
            raise FormValueError("required", f"{name} is required")
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise FormValueError("bad_date", f"{name}: {text!r} is not a date (YYYY-MM-DD)") from exc


def _assets(form: Form) -> list[dict[str, Any]]:
    kinds = list(form.get("asset_kind") or [])
    numbers = list(form.get("asset_number") or [])
    titles = list(form.get("asset_title") or [])
    consents = list(form.get("asset_consent") or [])
    assets: list[dict[str, Any]] = []
    for index, kind in enumerate(kinds):
        number = numbers[index].strip() if index < len(numbers) else ""
        title = titles[index].strip() if index < len(titles) else ""
        if not (number or title):
            continue
        if not number:
            raise FormValueError("required", f"asset_number ({index + 1}) is required")
        if not title:
            raise FormValueError("required", f"asset_title ({index + 1}) is required")
        consent = index < len(consents) and consents[index] == "yes"
        assets.append({"kind": kind.strip(), "number": number, "title": title, "co_owner_consent": consent})
    if not assets:
        raise FormValueError("required", "asset_number (1) is required")
    return assets


def _settlement(form: Form, bank_org_id: uuid.UUID) -> dict[str, Any]:
    parties: list[dict[str, Any]] = []
    advances: list[dict[str, Any]] = []
    for role in PARTY_ROLES:
        ratio_text = _one(form, f"{role}_ratio")
        advance = _amount(form, f"{role}_advance", required=False) if role != "bank" else None
        if role != "bank" and not ratio_text and not advance:
            continue
        try:
            ratio = parse_percent(ratio_text or "0")
        except FormValueError as exc:
            raise FormValueError(exc.code, f"{role}_ratio: {exc.detail}") from exc
        org_id = str(bank_org_id) if role == "bank" else _required(form, f"{role}_org")
        parties.append({"role": role, "org_id": org_id, "ratio_bp": ratio})
        if advance:
            advances.append({"role": role, "amount": advance})
    costs = []
    for kind, field in COST_FIELDS:
        amount = _amount(form, field, required=False)
        if amount:
            costs.append({"kind": kind, "amount": amount})
    return {"parties": parties, "advances": advances, "costs": costs}


def _licences(text: str) -> list[dict[str, Any]]:
    licences = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) < 3 or parts[2] not in LICENCE_KINDS:
            raise FormValueError(
                "invalid_input",
                f"licences line {number}: write asset|licensee|exclusive, sole or ordinary|until",
            )
        licence: dict[str, Any] = {"asset": parts[0], "licensee": parts[1], "kind": parts[2]}
        if len(parts) > 3 and parts[3]:
            licence["until"] = parts[3]
        licences.append(licence)
    return licences


def listing_draft(form: Form, bank_org_id: uuid.UUID) -> dict[str, Any]:
    """The ``POST /api/listings`` body for the wizard's form."""
    draft: dict[str, Any] = {
        "title": _required(form, "title"),
        "currency": "CNY",
        "loan": {
            "loan_ref": _required(form, "loan_ref"),
            "pledgor_name": _required(form, "pledgor_name"),
            "claim": _amount(form, "claim"),
            "default_date": _date(form, "default_date"),
        },
        "pledge": {
            "registry": _required(form, "pledge_registry"),
            "registration_no": _required(form, "pledge_no"),
        },
        "assets": _assets(form),
        "valuation": {
            "amount": _amount(form, "valuation_amount"),
            "method": _required(form, "valuation_method"),
            "agency_org_id": _one(form, "valuation_agency") or None,
            "report_date": _date(form, "report_date", required=False),
        },
        "settlement": _settlement(form, bank_org_id),
        "disclosures": {
            "none_known": _one(form, "none_known") == "yes",
            "litigation": [line.strip() for line in _one(form, "litigation").splitlines() if line.strip()],
            "licences": _licences(_one(form, "licences")),
        },
    }
    if industry := _one(form, "industry"):
        draft["industry"] = industry
    if planned := _date(form, "planned_sale_date", required=False):
        draft["planned_sale_date"] = planned
    return draft
