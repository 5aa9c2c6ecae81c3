"""A minimal websocket client for the watchers: a few microseconds of CPU per frame.

The watchers share two cores with the app they measure; the ``websockets`` client costs tens of
microseconds per frame in Python, so 1 000 watchers spent most of a core receiving and the
figure measured the client as much as the server. This client does only what a watcher needs:
the upgrade handshake, then reading unmasked server frames straight from the transport.

Invariants:
- only 127.0.0.1 is spoken to; no extensions (no compression) are offered, so frames are plain;
- a message is delivered whole (continuation frames are joined) with the monotonic time, in µs,
  of the read that completed it; a ``ping`` is answered, a server ``close`` ends the connection;
- frames the client sends (pong, close) are masked, as RFC 6455 requires of a client.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from typing import cast

OnMessage = Callable[[bytes, int], bool]
"""Called with each message and its receipt time (µs); returns True to end the connection."""


class HandshakeFailed(Exception):
    pass


def masked_frame(opcode: int, payload: bytes) -> bytes:
    if len(payload) > 125:
        raise ValueError("control frames only")
    mask = os.urandom(4)
    body = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


class FeedProtocol(asyncio.Protocol):
    def __init__(self, host: str, port: int, path: str, on_message: OnMessage) -> None:
        loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode("latin-1")
        self._on_message = on_message
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._upgraded = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport
        self._transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc or HandshakeFailed("closed during the handshake"))
        if not self.done.done():
            self.done.set_result(None)

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(masked_frame(0x8, (1000).to_bytes(2, "big")))
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        received = time.monotonic_ns() // 1000
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line = bytes(buffer[: buffer.find(b"\r\n")])
            if b" 101 " not in status_line + b" ":
                self.handshake.set_exception(HandshakeFailed(status_line.decode("latin-1", "replace")))
                self.close()
                return
            del buffer[: end + 4]
            self._upgraded = True
            self.handshake.set_result(None)
        offset = 0
        size = len(buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length = second & 0x7F
            start = offset + 2
            if length == 126:
                if size - offset < 4:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
                start = offset + 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
                start = offset + 10
            if second & 0x80:
                self.close()  # a server never masks
                return
            if size - start < length:
                break
            payload = bytes(buffer[start : start + length])
            offset = start + length
            if self._frame(first & 0x0F, bool(first & 0x80), payload, received):
                self.close()
                return
        if offset:
            del buffer[:offset]

    def _frame(self, opcode: int, final: bool, payload: bytes, received: int) -> bool:
        if opcode == 0x8:
            return True
        if opcode == 0x9:
            assert self._transport is not None
            self._transport.write(masked_frame(0xA, payload))
            return False
        if opcode == 0xA:
            return False
        self._fragments.append(payload)
        if not final:
            return False
        message = self._fragments[0] if len(self._fragments) == 1 else b"".join(self._fragments)
        self._fragments = []
        return self._on_message(message, received)


async def open_feed(host: str, port: int, path: str, on_message: OnMessage) -> FeedProtocol:
    """Connect and upgrade; messages flow to ``on_message`` from then on."""
    if host != "127.0.0.1":
        raise ValueError("the benchmark speaks to 127.0.0.1 only")
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: FeedProtocol(host, port, path, on_message), host, port)
    await protocol.handshake
    return protocol
