"""A minimal HTTP/1.1 keep-alive client for the bid load: a few microseconds of CPU per request.

The load generator shares two cores with the app, PostgreSQL and Redis, so every microsecond it
spends is taken from what it measures; a general client (httpx) costs several times more per
request. Setup traffic uses httpx; only the hot loop uses this.

Invariants:
- one request at a time per connection, each bounded by a timeout; a connection that failed or
  was told ``Connection: close`` is reopened for the next request;
- a response is read exactly: by ``Content-Length``, or chunk by chunk when chunked;
- only 127.0.0.1 is spoken to.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class HttpError(Exception):
    pass


def request_head(method: str, path: str, host: str, headers: dict[str, str], body_length: int) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {body_length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    """Status and lower-cased headers of a response head (ending in a blank line)."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HttpError(f"not an HTTP/1.x status line: {lines[0]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


class Connection:
    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        if host != "127.0.0.1":
            raise ValueError("the benchmark speaks to 127.0.0.1 only")
        self.host = host
        self.port = port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Response:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(method, path, headers, body)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, HttpError, ValueError):
            await self.close()
            raise

    async def _exchange(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        reader, writer = await self._open()
        writer.write(request_head(method, path, f"{self.host}:{self.port}", headers, len(body)) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status, response_headers = parse_head(head)
        if response_headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            payload = await _read_chunked(reader)
        else:
            payload = await reader.readexactly(int(response_headers.get(b"content-length", b"0")))
        if response_headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return Response(status, payload)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    for _ in range(100_000):
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    raise HttpError("too many chunks")
