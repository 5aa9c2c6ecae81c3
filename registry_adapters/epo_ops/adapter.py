"""The EPO OPS registry adapter: CN patents' legal status from INPADOC, through ``EpoOpsClient``.

Invariants
- Serves the ``cnipa`` registry only, and only numbers that look like CN publication numbers
  (``CN112345678B``, ``CN112345678``, docdb ``CN.112345678.B``); anything else is ``None`` so a
  chained adapter (sandbox, manual evidence) can answer instead. CNIPA application numbers
  (``CN202110345678.2``) are not translated to publication numbers here.
- A number OPS does not know (biblio 404) is ``None``; a known number without legal events is a
  record with no events.
- The record is built by the pure ``record_from_ops``; the clock is injected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from registry_adapters.base import AssetRecord
from registry_adapters.epo_ops.parse import SOURCE, record_from_ops

_PUBLICATION = re.compile(r"^CN(?P<number>\d{6,10})(?:\.?(?P<kind>[A-Z]\d?))?$")
_DOCDB = re.compile(r"^CN\.\d{6,10}\.[A-Z]\d?$")


class OpsSource(Protocol):
    """What the adapter needs from ``EpoOpsClient`` (tests may pass a fake)."""

    async def legal(self, number: str) -> bytes | None: ...

    async def biblio(self, number: str) -> bytes | None: ...


def ops_number(number: str) -> str | None:
    """The OPS input for a CN publication number: docdb when a kind code is given, else epodoc."""
    value = number.strip().upper().replace(" ", "")
    if _DOCDB.match(value):
        return value
    match = _PUBLICATION.match(value)
    if match is None:
        return None
    if match.group("kind"):
        return f"CN.{match.group('number')}.{match.group('kind')}"
    return f"CN{match.group('number')}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EpoOpsRegistry:
    """A ``RegistryAdapter`` for CN patents (invention, utility model, design) via EPO OPS."""

    name = SOURCE

    def __init__(self, client: OpsSource, clock: Callable[[], datetime] = _utc_now) -> None:
        self._client = client
        self._clock = clock

    async def lookup(self, registry: str, number: str) -> AssetRecord | None:
        if registry != "cnipa":
            return None
        query = ops_number(number)
        if query is None:
            return None
        biblio = await self._client.biblio(query)
        if biblio is None:
            return None
        legal = await self._client.legal(query)
        return record_from_ops(number, biblio, legal, self._clock())
