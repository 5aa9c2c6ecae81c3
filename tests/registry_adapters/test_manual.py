from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_adapters.base import PledgeRecord, RegistryAdapter, RegistryError
from registry_adapters.manual import (
    InMemoryManualStore,
    ManualEvidence,
    ManualRegistry,
    approve,
    record_from_manual,
)

from .factories import BANK, FETCHED_AT, PLEDGE_NO

DOCUMENT = hashlib.sha256(b"scanned CNIPA register extract").hexdigest()


def evidence(**fields: Any) -> ManualEvidence:
    values: dict[str, Any] = {
        "registry": "plant_variety",
        "number": "CNA20191234.5",
        "kind": "plant_variety",
        "title": "示范稻 1 号",
        "holder": "示范种业有限公司",
        "status": "in_force",
        "expires_on": date(2039, 12, 31),
        "pledges": (PledgeRecord(BANK, PLEDGE_NO, "registered", date(2025, 3, 1)),),
        "document_sha256": DOCUMENT,
        "entered_by": "operator-1",
    }
    values.update(fields)
    return ManualEvidence(**values)


def test_evidence_approved_by_a_second_operator_becomes_a_record() -> None:
    approved = approve(evidence(), "operator-2")
    record = record_from_manual(approved, FETCHED_AT)
    assert (record.registry, record.number, record.kind, record.source) == (
        "plant_variety",
        "CNA20191234.5",
        "plant_variety",
        "manual",
    )
    assert record.pledges[0].pledgee == BANK
    raw = json.loads(record.raw)
    assert (raw["document_sha256"], raw["entered_by"], raw["approved_by"]) == (
        DOCUMENT,
        "operator-1",
        "operator-2",
    )


@pytest.mark.parametrize(
    "unapproved",
    [
        pytest.param(evidence(), id="never-approved"),
        pytest.param(evidence(approved_by="operator-1"), id="approved-by-its-enterer-bypassing-approve"),
    ],
)
def test_unapproved_evidence_is_refused(unapproved: ManualEvidence) -> None:
    with pytest.raises(RegistryError) as caught:
        record_from_manual(unapproved, FETCHED_AT)
    assert caught.value.code == "not_approved"


def test_the_enterer_cannot_approve_their_own_evidence() -> None:
    with pytest.raises(RegistryError) as caught:
        approve(evidence(), "operator-1")
    assert caught.value.code == "same_operator"


def test_approval_does_not_change_the_original() -> None:
    original = evidence()
    approved = approve(original, "operator-2")
    assert original.approved_by is None
    assert approved.approved_by == "operator-2"


def test_approving_twice_as_the_same_approver_is_a_no_op() -> None:
    approved = approve(evidence(), "operator-2")
    assert approve(approved, "operator-2") == approved


def test_a_third_operator_cannot_replace_the_approval() -> None:
    with pytest.raises(RegistryError) as caught:
        approve(approve(evidence(), "operator-2"), "operator-3")
    assert caught.value.code == "already_approved"


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"document_sha256": "abc"}, id="short-digest"),
        pytest.param({"document_sha256": DOCUMENT.upper()}, id="upper-case-digest"),
        pytest.param({"entered_by": " "}, id="no-enterer"),
        pytest.param({"number": ""}, id="no-number"),
        pytest.param({"kind": "patent"}, id="unknown-kind"),
        pytest.param({"status": "valid"}, id="unknown-status"),
    ],
)
def test_invalid_evidence_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(RegistryError) as caught:
        evidence(**fields)
    assert caught.value.code == "bad_record"


def test_an_approval_must_name_an_operator() -> None:
    with pytest.raises(RegistryError) as caught:
        approve(evidence(), "")
    assert caught.value.code == "bad_record"


@settings(max_examples=100, deadline=None)
@given(enterer=st.text(min_size=1).filter(str.strip), approver=st.text(min_size=1).filter(str.strip))
def test_a_record_exists_only_after_a_different_operator_approved(enterer: str, approver: str) -> None:
    entered = evidence(entered_by=enterer)
    if enterer == approver:
        with pytest.raises(RegistryError, match="same_operator"):
            approve(entered, approver)
    else:
        record = record_from_manual(approve(entered, approver), FETCHED_AT)
        assert json.loads(record.raw)["approved_by"] == approver


def test_the_digest_binds_the_document_and_both_operators() -> None:
    first = record_from_manual(approve(evidence(), "operator-2"), FETCHED_AT)
    other_document = replace(evidence(), document_sha256=hashlib.sha256(b"another scan").hexdigest())
    second = record_from_manual(approve(other_document, "operator-2"), FETCHED_AT)
    third = record_from_manual(approve(evidence(), "operator-3"), FETCHED_AT)
    assert len({first.raw_sha256, second.raw_sha256, third.raw_sha256}) == 3


async def test_the_manual_adapter_serves_approved_evidence_and_refuses_the_rest() -> None:
    store = InMemoryManualStore()
    registry = ManualRegistry(store, clock=lambda: FETCHED_AT)
    assert isinstance(registry, RegistryAdapter)
    assert await registry.lookup("plant_variety", "CNA20191234.5") is None
    store.put(evidence())
    with pytest.raises(RegistryError, match="not_approved"):
        await registry.lookup("plant_variety", "CNA20191234.5")
    store.put(approve(evidence(), "operator-2"))
    record = await registry.lookup("plant_variety", "CNA20191234.5")
    assert record is not None
    assert record.fetched_at == FETCHED_AT
