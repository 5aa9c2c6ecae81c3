"""Several registry adapters asked in order, as one.

Invariants
- The first adapter that returns a record wins; ``None`` only when every adapter returned ``None``.
- A ``RegistryError`` from an adapter propagates at once: an outage is never reported as
  "not found" by falling through to the next adapter.
"""

from __future__ import annotations

from collections.abc import Sequence

from registry_adapters.base import AssetRecord, RegistryAdapter


class ChainedRegistry:
    def __init__(self, adapters: Sequence[RegistryAdapter]) -> None:
        self._adapters = tuple(adapters)
        self.name = "+".join(adapter.name for adapter in self._adapters)

    async def lookup(self, registry: str, number: str) -> AssetRecord | None:
        for adapter in self._adapters:
            record = await adapter.lookup(registry, number)
            if record is not None:
                return record
        return None
