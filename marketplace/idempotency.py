"""``Idempotency-Key`` for every unsafe method: a retry with the same key and body replays the
first answer and does nothing twice.

Invariants:
- a key belongs to its caller (the bearer token or session cookie, else the client address): two
  callers never share a key;
- while the first request with a key runs, a concurrent retry gets 409 ``idempotency_in_progress``
  (claimed atomically with ``SET NX`` on Redis; with a per-process lock in the embedded set-up
  and while Redis is down);
- a finished request's status, headers and body are kept for 24 hours; the same key with a
  different body is refused with 422 ``idempotency_key_reused``;
- 5xx answers are not kept: the retry runs again (nothing was committed). Bids carry the key into
  their own row as well, so a bid retried after a crash between commit and this record is still
  answered from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Any, cast

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.context import AppContext
from marketplace.resilience import RedisUnavailable, breaker_for

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PENDING_TTL = 120
DONE_TTL = 24 * 3600
MAX_KEY = 200


class _Record(msgspec.Struct):
    state: str
    body_hash: str
    status: int = 0
    headers: list[tuple[str, str]] = []
    body: bytes = b""


def _problem(status: int, code: str, detail: str) -> tuple[int, bytes]:
    body = msgspec.json.encode(
        {
            "type": "about:blank",
            "status": status,
            "title": "Conflict" if status == 409 else "Invalid input",
            "detail": detail,
            "code": code,
        }
    )
    return status, body


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx
        self._local_claims: set[str] = set()
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type: str = scope["type"]
        if scope_type != "http" or scope.get("method") not in UNSAFE:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = headers.get(b"idempotency-key")
        if not key:
            await self.app(scope, receive, send)
            return
        if len(key) > MAX_KEY:
            await self._reply(send, *_problem(422, "invalid_input", "Idempotency-Key is too long"))
            return
        caller = headers.get(b"authorization") or _cookie(headers.get(b"cookie", b""))
        if not caller:
            client = scope.get("client") or ("", 0)
            caller = str(client[0]).encode()
        path = f"{scope.get('method')} {scope['path']}".encode()
        store_key = "idem:" + hashlib.sha256(caller + b"\0" + path + b"\0" + key).hexdigest()

        body = await _read_body(receive)
        body_hash = hashlib.sha256(body).hexdigest()
        existing = await self.ctx.store.get(store_key)
        if existing is not None:
            record = msgspec.json.decode(existing, type=_Record)
            if record.body_hash != body_hash:
                await self._reply(
                    send, *_problem(422, "idempotency_key_reused", "this key was used with another body")
                )
            elif record.state == "pending":
                await self._reply(
                    send, *_problem(409, "idempotency_in_progress", "the first request is still running")
                )
            else:
                await self._replay(send, record)
            return
        if not await self._claim(store_key, body_hash):
            await self._reply(
                send, *_problem(409, "idempotency_in_progress", "the first request is still running")
            )
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        replayed = False

        async def replay_receive() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            status = int(captured["status"])
            if status < 500:
                done = _Record("done", body_hash, status, captured["headers"], bytes(captured["body"]))
                await self.ctx.store.set(store_key, msgspec.json.encode(done), expires_in=DONE_TTL)
            else:
                await self.ctx.store.delete(store_key)
            self._local_claims.discard(store_key)

    async def _claim(self, store_key: str, body_hash: str) -> bool:
        pending = msgspec.json.encode(_Record("pending", body_hash))
        if self.ctx.redis is not None:
            redis, namespaced = self.ctx.redis, f"mp:{store_key}"
            with contextlib.suppress(RedisUnavailable):  # Redis down: claim in this process
                return bool(
                    await breaker_for(redis).call(
                        lambda: redis.set(namespaced, pending, nx=True, ex=PENDING_TTL)
                    )
                )
        async with self._lock:
            if store_key in self._local_claims:
                return False
            self._local_claims.add(store_key)
        await self.ctx.store.set(store_key, pending, expires_in=PENDING_TTL)
        return True

    async def _replay(self, send: Send, record: _Record) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in record.headers]
        headers.append((b"idempotent-replayed", b"true"))
        await send(
            cast(Message, {"type": "http.response.start", "status": record.status, "headers": headers})
        )
        await send(cast(Message, {"type": "http.response.body", "body": record.body}))

    async def _reply(self, send: Send, status: int, body: bytes) -> None:
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send(cast(Message, {"type": "http.response.start", "status": status, "headers": headers}))
        await send(cast(Message, {"type": "http.response.body", "body": body}))


def _cookie(raw: bytes) -> bytes:
    for part in raw.split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == b"mp_session":
            return value
    return b""


async def _read_body(receive: Receive) -> bytes:
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.extend(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return bytes(chunks)
