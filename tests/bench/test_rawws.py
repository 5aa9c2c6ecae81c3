"""The benchmark's lean websocket client against a real websocket server (the ``websockets`` library)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets

from bench.rawws import HandshakeFailed, open_feed


async def _serve(handler: Any) -> tuple[Any, int]:
    server = await websockets.serve(handler, "127.0.0.1", 0, compression=None)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, port


async def test_messages_of_every_length_and_fragmented_ones_arrive_whole_and_in_order() -> None:
    sizes = [0, 1, 125, 126, 65_535, 65_536, 300_000]

    async def handler(socket: Any) -> None:
        for size in sizes:
            await socket.send("x" * size)
        await socket.send(["part one, ", "part two"])  # a fragmented message
        await socket.ping(b"are you there")
        await socket.send("last")
        await socket.wait_closed()

    server, port = await _serve(handler)
    received: list[bytes] = []
    try:
        feed = await open_feed("127.0.0.1", port, "/", lambda raw, at: received.append(raw) or raw == b"last")
        await asyncio.wait_for(feed.done, 10)
    finally:
        server.close()
        await server.wait_closed()
    assert [len(raw) for raw in received[: len(sizes)]] == sizes
    assert received[len(sizes) :] == [b"part one, part two", b"last"]


async def test_a_refused_upgrade_fails_the_handshake() -> None:
    async def handler(socket: Any) -> None:  # pragma: no cover - never upgraded
        await socket.close()

    def refuse(connection: Any, request: Any) -> Any:
        return connection.respond(403, "no\n")

    server = await websockets.serve(handler, "127.0.0.1", 0, process_request=refuse)
    port = next(iter(server.sockets)).getsockname()[1]
    try:
        with pytest.raises(HandshakeFailed):
            await open_feed("127.0.0.1", port, "/", lambda raw, at: False)
    finally:
        server.close()
        await server.wait_closed()


async def test_the_server_closing_ends_the_feed() -> None:
    async def handler(socket: Any) -> None:
        await socket.send("only")
        await socket.close()

    server, port = await _serve(handler)
    received: list[bytes] = []
    try:
        feed = await open_feed("127.0.0.1", port, "/", lambda raw, at: received.append(raw) or False)
        await asyncio.wait_for(feed.done, 10)
    finally:
        server.close()
        await server.wait_closed()
    assert received == [b"only"]


def test_only_loopback_is_spoken_to() -> None:
    async def attempt() -> None:
        await open_feed("10.0.0.1", 80, "/", lambda raw, at: False)

    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        asyncio.run(attempt())
