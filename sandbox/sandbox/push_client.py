"""The HTTP/1.1 client webhook pushes go out with: one POST per call over pooled keep-alive connections (h11).

Why not httpx: at Webhooks Streaming rates (one request per event, hundreds per second) its per-request
cost was most of a core and fell further with many connections; h11's state machine on asyncio streams
does the same exchange several times faster, leaving the sandbox's event loop free for ingestion.

A connection goes back to the pool only after a complete response that allows keep-alive; one that
failed, timed out or was cancelled mid-exchange is closed. A request on a reused connection that the
receiver had already closed (an idle keep-alive timeout) is sent once more on a new connection.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from urllib.parse import urlsplit

import h11

READ_CHUNK = 65536


class PushConnectionError(Exception):
    """The exchange failed before a complete response (refused, reset, closed, or not HTTP/1.1)."""


Origin = tuple[str, str, int]  # scheme, host, port


class _Connection:
    def __init__(self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(h11.CLIENT)
        self.reused = False

    def close(self) -> None:
        self.writer.close()


class PushClient:
    """POSTs bodies to receivers, keeping at most `max_idle` idle connections per origin."""

    def __init__(self, max_idle: int) -> None:
        self.max_idle = max_idle
        self._idle: dict[Origin, collections.deque[_Connection]] = collections.defaultdict(collections.deque)
        self._tls = ssl.create_default_context()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The receiver's status code; PushConnectionError (or OSError) when no complete answer came.

        No timeout here: the caller bounds the whole exchange (asyncio.timeout), and a connection
        interrupted that way is closed, never reused."""
        parts = urlsplit(url)
        default_port = 443 if parts.scheme == "https" else 80
        origin = (parts.scheme, parts.hostname or "", parts.port or default_port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if parts.port in (None, default_port) else f"{parts.hostname}:{parts.port}"
        request = h11.Request(
            method="POST",
            target=target,
            headers=[("Host", host or ""), *headers.items(), ("Content-Length", str(len(body)))],
        )
        connection = await self._connection(origin)
        try:
            status = await self._exchange(connection, request, body)
        except PushConnectionError:
            if not connection.reused:
                raise
            connection.close()  # the receiver dropped an idle keep-alive connection: once more on a new one
            connection = await self._connection(origin, fresh=True)
            status = await self._exchange(connection, request, body)
        return status

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def _connection(self, origin: Origin, fresh: bool = False) -> _Connection:
        idle = self._idle[origin]
        while idle and not fresh:
            connection = idle.pop()
            if not connection.writer.is_closing() and not connection.reader.at_eof():
                connection.reused = True
                return connection
            connection.close()
        scheme, host, port = origin
        tls = {"ssl": self._tls, "server_hostname": host} if scheme == "https" else {}
        reader, writer = await asyncio.open_connection(host, port, **tls)
        return _Connection(origin, reader, writer)

    async def _exchange(self, connection: _Connection, request: h11.Request, body: bytes) -> int:
        protocol = connection.protocol
        try:
            payload = protocol.send(request) + protocol.send(h11.Data(data=body)) + protocol.send(h11.EndOfMessage())
            connection.writer.write(payload)
            await connection.writer.drain()
            status = await self._response(connection)
        except BaseException as exc:  # a failure, a timeout or a cancellation: the connection is unusable
            connection.close()
            if isinstance(exc, (h11.ProtocolError, ConnectionError)):
                raise PushConnectionError(type(exc).__name__) from exc
            raise
        if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
            protocol.start_next_cycle()
            idle = self._idle[connection.origin]
            if len(idle) < self.max_idle:
                idle.append(connection)
                return status
        connection.close()
        return status

    @staticmethod
    async def _response(connection: _Connection) -> int:
        protocol = connection.protocol
        status = 0
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                data = await connection.reader.read(READ_CHUNK)
                if not data and protocol.their_state is h11.SEND_RESPONSE:
                    raise PushConnectionError("connection closed before a response")
                protocol.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                return status
            elif isinstance(event, h11.ConnectionClosed):
                raise PushConnectionError("connection closed before a response")
