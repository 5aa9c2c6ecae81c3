"""One contract, every RegistryAdapter: sandbox, EPO OPS (over MockTransport), manual evidence, chain."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from registry_adapters.base import AssetRecord, RegistryAdapter, RegistryError, sha256_hex
from registry_adapters.chain import ChainedRegistry
from registry_adapters.epo_ops import EpoOpsClient, EpoOpsRegistry
from registry_adapters.manual import InMemoryManualStore, ManualEvidence, ManualRegistry, approve
from registry_adapters.sandbox import InMemorySandboxStore, SandboxRegistry

from .factories import FETCHED_AT, fixture, sandbox_json


@dataclass
class Subject:
    adapter: RegistryAdapter
    registry: str
    known: str
    unknown: str
    client: EpoOpsClient | None = None


def _ops(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/auth/accesstoken"):
        return httpx.Response(200, content=fixture("token.json"))
    if request.url.path.endswith("/CN.112345678.B/biblio"):
        return httpx.Response(200, content=fixture("biblio_cn_invention.xml"))
    if request.url.path.endswith("/CN.112345678.B"):
        return httpx.Response(200, content=fixture("legal_pledge_registered.xml"))
    return httpx.Response(404)


async def sandbox() -> Subject:
    store = InMemorySandboxStore([sandbox_json("CN201910512345.8")])
    return Subject(
        SandboxRegistry(store, clock=lambda: FETCHED_AT), "cnipa", "CN201910512345.8", "CN201910000000.1"
    )


async def epo_ops() -> Subject:
    client = EpoOpsClient("key", "secret", transport=httpx.MockTransport(_ops))
    adapter = EpoOpsRegistry(client, clock=lambda: FETCHED_AT)
    return Subject(adapter, "cnipa", "CN112345678B", "CN999999999B", client)


async def manual() -> Subject:
    store = InMemoryManualStore()
    entered = ManualEvidence(
        registry="data_exchange",
        number="SZDE-2025-000123",
        kind="data_right",
        title="示范工业设备运行数据集",
        holder="示范数据科技有限公司",
        status="in_force",
        document_sha256=hashlib.sha256(b"certificate").hexdigest(),
        entered_by="operator-1",
    )
    store.put(approve(entered, "operator-2"))
    return Subject(
        ManualRegistry(store, clock=lambda: FETCHED_AT), "data_exchange", "SZDE-2025-000123", "SZDE-0"
    )


async def chain() -> Subject:
    first, second = await manual(), await sandbox()
    return Subject(ChainedRegistry([first.adapter, second.adapter]), "cnipa", second.known, second.unknown)


@pytest.fixture(params=[sandbox, epo_ops, manual, chain], ids=["sandbox", "epo_ops", "manual", "chain"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    factory: Callable[[], Awaitable[Subject]] = request.param
    made = await factory()
    yield made
    if made.client is not None:
        await made.client.aclose()


async def test_it_is_a_registry_adapter(subject: Subject) -> None:
    assert isinstance(subject.adapter, RegistryAdapter)
    assert subject.adapter.name


async def test_a_known_number_gives_a_record_of_that_number(subject: Subject) -> None:
    record = await subject.adapter.lookup(subject.registry, subject.known)
    assert isinstance(record, AssetRecord)
    assert (record.registry, record.number) == (subject.registry, subject.known)
    assert record.raw_sha256 == sha256_hex(record.raw)
    assert record.fetched_at == FETCHED_AT
    assert record.status in {"in_force", "lapsed", "pending"}


async def test_an_unknown_number_is_none(subject: Subject) -> None:
    assert await subject.adapter.lookup(subject.registry, subject.unknown) is None


async def test_the_same_answer_gives_the_same_digest(subject: Subject) -> None:
    first = await subject.adapter.lookup(subject.registry, subject.known)
    second = await subject.adapter.lookup(subject.registry, subject.known)
    assert first is not None
    assert second is not None
    assert first.raw_sha256 == second.raw_sha256


async def test_a_chain_takes_the_first_answer_and_does_not_hide_errors() -> None:
    class Failing:
        name = "failing"

        async def lookup(self, registry: str, number: str) -> AssetRecord | None:
            raise RegistryError("registry_unavailable", "down")

    sandboxed = await sandbox()
    assert (
        await ChainedRegistry([sandboxed.adapter, Failing()]).lookup("cnipa", sandboxed.known)
    ) is not None
    with pytest.raises(RegistryError, match="registry_unavailable"):
        await ChainedRegistry([Failing(), sandboxed.adapter]).lookup("cnipa", sandboxed.known)
    assert ChainedRegistry([sandboxed.adapter, Failing()]).name == "sandbox+failing"
