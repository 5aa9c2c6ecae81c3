"""The bid route's fast lane: ``POST /api/auctions/{id}/bids`` without Litestar's per-request work.

Under a bidding war the bid route is nearly all of a process's requests, and py-spy showed
Litestar's routing, dependency injection, signature model, body extractor and exception middleware
at about a third of the process's CPU per bid. This lane answers the plain bid in front of the
router and hands everything else to Litestar unchanged.

Invariants:
- it takes a request only when it is the plain case: ``POST`` to exactly
  ``/api/auctions/<canonical uuid>/bids``, no query string, ``Content-Type: application/json``,
  a ``Content-Length`` of at most :data:`MAX_BID_BODY`, a bearer token that resolves to a bearer
  session, no ``Idempotency-Key`` and no cookie, and a body that decodes *strictly* into
  ``BidIn``. Anything else (a malformed body, a stale token, an idempotent retry, a browser's
  cookie session) goes to Litestar with the body it already read replayed, so Litestar gives its
  own answer, 4xx codes included; nothing is decided twice, because every check made before the
  hand-over is free of side effects;
- what it does with a taken request is the route's own body, :func:`place_bid`: the same rate
  limits, standing, sequencer and ``BidOut``; its errors go through the app's own exception
  handlers (looked up as Litestar looks them up), so a rejected bid's problem+json is the one the
  route would give;
- the answer carries what every answer carries: the security headers (this layer adds them to
  every HTTP answer, the app's included), ``X-Request-ID`` and the request's log line
  (:class:`RequestIdMiddleware` wraps the lane);
- ``BID_FAST_PATH=0`` turns the lane off (the layer stays, for the headers and the websockets);
  ``tests/auctions/test_bid_fastpath.py`` answers the same requests both ways and compares
  status, headers and bodies.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import msgspec
from litestar.middleware._internal.exceptions.middleware import get_exception_handler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from marketplace.auctions.routes import place_bid
from marketplace.auctions.schemas import BidIn
from marketplace.deps import _principal_from
from marketplace.errors import internal_error_handler
from marketplace.logging import RequestIdMiddleware

if TYPE_CHECKING:
    from litestar import Litestar

    from marketplace.context import AppContext

BID_PATH = re.compile(
    r"^/api/auctions/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/bids$"
)
MAX_BID_BODY = 1024
"""A bid body is ``{"amount": <at most 16 digits>}``; anything longer is not the plain case."""
_JSON = b"application/json"
_decode_bid = msgspec.json.Decoder(BidIn).decode
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class _Client:
    host: str
    port: int


class _Peer:
    """What the rate limits read of a connection: its client address."""

    __slots__ = ("client",)

    def __init__(self, scope: Scope) -> None:
        client = scope.get("client")
        self.client = _Client(str(client[0]), int(client[1])) if client else None


class _Taken:
    __slots__ = ("amount", "auction_id", "claims")

    def __init__(self, auction_id: uuid.UUID, amount: int, claims: Any) -> None:
        self.auction_id = auction_id
        self.amount = amount
        self.claims = claims


class BidFastPath:
    """Wraps Litestar's ASGI handler (``app.asgi_handler``), in front of its exception middleware
    and router, for every HTTP request and websocket:

    - every HTTP answer gets the security headers here (``add_headers``, what a ``before_send``
      hook would do: this layer sees the answers of the router and of the exception handlers too);
    - a websocket's scope carries the server's own ``send`` (``mp_raw_send``): the live feed sends
      its frames with it, past the four wrappers that have nothing to do for a ``websocket.send``;
    - with ``lane`` on, plain bids are answered here and the rest goes to ``inner``.
    """

    def __init__(
        self,
        inner: ASGIApp,
        app: Litestar,
        ctx: AppContext,
        add_headers: Callable[[Message, Scope], Awaitable[None]],
        *,
        lane: bool = True,
    ) -> None:
        self.inner = inner
        self.app = app
        self.ctx = ctx
        self.add_headers = add_headers
        self.lane = lane
        self.logged = RequestIdMiddleware(self._answer)
        self.taken = 0
        """Requests this lane answered itself (the rest went to Litestar)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind: str = scope["type"]
        if kind == "websocket":
            scope["mp_raw_send"] = send  # type: ignore[typeddict-unknown-key]
            await self.inner(scope, receive, send)
            return
        if kind != "http":
            await self.inner(scope, receive, send)
            return
        add_headers = self.add_headers

        async def send_with_headers(message: Message) -> None:
            await add_headers(message, scope)
            await send(message)

        await self._route(scope, receive, send_with_headers)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.lane or scope.get("method") != "POST":
            await self.inner(scope, receive, send)
            return
        match = BID_PATH.match(scope["path"])
        if match is None or scope.get("query_string"):
            await self.inner(scope, receive, send)
            return
        token = _plain_bearer(scope["headers"])
        if token is None:
            await self.inner(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        if not complete:
            return  # the client went away before sending its body: no one to answer
        taken = await self._take(match.group(1), token, body)
        if taken is None:
            await self.inner(scope, _replaying(body, receive), send)
            return
        scope["mp_fast_bid"] = taken  # type: ignore[typeddict-unknown-key]
        self.taken += 1
        await self.logged(scope, receive, send)

    async def _take(self, auction_id: str, token: str, body: bytes) -> _Taken | None:
        try:
            amount = _decode_bid(body).amount
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        claims = await self.ctx.tokens.resolve(token)
        if claims is None or claims.kind != "bearer":
            return None
        return _Taken(uuid.UUID(auction_id), amount, claims)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        taken: _Taken = scope.pop("mp_fast_bid")  # type: ignore[typeddict-item]
        try:
            buyer = _principal_from(taken.claims, "bearer")
            bid = await place_bid(self.ctx, _Peer(scope), buyer, taken.auction_id, taken.amount, None)
        except Exception as exc:
            await self._problem(scope, receive, send, exc)
            return
        body = _encode(bid)
        await send(
            cast(
                Message,
                {
                    "type": "http.response.start",
                    "status": 201,
                    "headers": [
                        (b"content-type", _JSON),
                        (b"content-length", str(len(body)).encode()),
                    ],
                },
            )
        )
        await send(cast(Message, {"type": "http.response.body", "body": body}))

    async def _problem(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        app = self.app
        handler = get_exception_handler(app.exception_handlers, exc) or internal_error_handler
        request = app.request_class(scope=scope, receive=receive, send=send)
        response = handler(request, exc)
        await response.to_asgi_response(app=None, request=request, type_encoders=app.type_encoders)(
            scope, receive, send
        )


def _plain_bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The bearer token of a request that is the plain case as far as its headers go, else None."""
    token: str | None = None
    json_body = False
    length = -1
    for name, value in headers:
        if name == b"authorization":
            scheme, _, rest = value.partition(b" ")
            if token is not None or scheme.lower() != b"bearer":
                return None
            token = rest.strip().decode("latin-1")
        elif name == b"content-type":
            media = value.partition(b";")[0].strip().lower()
            if media != _JSON:
                return None
            json_body = True
        elif name == b"content-length":
            if not value.isdigit():
                return None
            length = int(value)
        elif name in (b"idempotency-key", b"cookie", b"transfer-encoding"):
            return None
    if not token or not json_body or not 0 <= length <= MAX_BID_BODY:
        return None
    return token


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body (its length is capped by the headers already) and whether it all arrived."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replaying(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return cast(Receive, replay)


def install(
    app: Litestar,
    ctx: AppContext,
    add_headers: Callable[[Message, Scope], Awaitable[None]],
    *,
    lane: bool = True,
) -> BidFastPath:
    """Put this layer in front of the app's exception middleware and router."""
    edge = BidFastPath(app.asgi_handler, app, ctx, add_headers, lane=lane)
    app.asgi_handler = edge
    return edge
