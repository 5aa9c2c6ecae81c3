"""The per-lot sequencer: serialises commands for one lot and commits them in groups.

Invariants:
- within one process, commands for one lot reach the store in arrival order, one batch at a time;
  across processes the store's lock (a row lock, or SQLite's single writer) serialises batches;
- a command's caller is answered only after the batch holding it was durably committed (or failed
  as a whole), so an acknowledged bid is never lost;
- commands that arrive while a batch commits wait and form the next batch: under load, many bids
  share one commit (group commit) without any timer;
- committed events are handed to ``publish`` after the answers, never before the commit; a failing
  publisher is logged and cannot undo or delay an acknowledged command.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

C = TypeVar("C")
R = TypeVar("R")
C_contra = TypeVar("C_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)

log = logging.getLogger("auction.sequencer")


@dataclass(frozen=True)
class BatchOutcome(Generic[R_co]):
    """Per command, its result or the error that rejected it; and the events that were committed."""

    results: Sequence[R_co | BaseException]
    events: Sequence[Any]


class BatchStore(Protocol[C_contra, R_co]):
    async def apply_batch(self, lot_id: str, commands: Sequence[C_contra]) -> BatchOutcome[R_co]:
        """Lock the lot, decide each command in order, persist, commit; raise if nothing committed."""
        ...


Publish = Callable[[str, Sequence[Any]], Awaitable[None]]


@dataclass
class _Lot(Generic[C, R]):
    waiting: deque[tuple[C, asyncio.Future[R]]] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an outcome as seen even when its caller went away (no 'never retrieved' noise)."""
    if not future.cancelled():
        future.exception()


class Sequencer(Generic[C, R]):
    def __init__(self, store: BatchStore[C, R], publish: Publish, *, max_batch: int = 256) -> None:
        self._store = store
        self._publish = publish
        self._max_batch = max_batch
        self._lots: dict[str, _Lot[C, R]] = {}
        self.batches = 0
        self.commands = 0

    async def submit(self, lot_id: str, command: C) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        future.add_done_callback(_retrieve)
        lot = self._lots.get(lot_id)
        if lot is None:
            lot = self._lots[lot_id] = _Lot()
        lot.waiting.append((command, future))
        if lot.worker is None or lot.worker.done():
            lot.worker = asyncio.create_task(self._drain(lot_id, lot), name=f"sequencer:{lot_id}")
        return await asyncio.shield(future)

    async def _drain(self, lot_id: str, lot: _Lot[C, R]) -> None:
        try:
            while lot.waiting:
                batch = [lot.waiting.popleft() for _ in range(min(len(lot.waiting), self._max_batch))]
                await self._run(lot_id, batch)
        finally:
            if not lot.waiting and self._lots.get(lot_id) is lot:
                del self._lots[lot_id]

    async def _run(self, lot_id: str, batch: list[tuple[C, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.commands += len(batch)
        try:
            outcome = await self._store.apply_batch(lot_id, [command for command, _ in batch])
        except BaseException as exc:  # the whole batch failed: nothing was committed
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, future), result in zip(batch, outcome.results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if outcome.events:
            try:
                await self._publish(lot_id, outcome.events)
            except Exception:
                log.exception("publishing committed events failed; watchers will catch up from the log")

    async def aclose(self) -> None:
        workers = [lot.worker for lot in self._lots.values() if lot.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
