"""uvicorn's HTTP protocol (httptools) with a limit on how long a request may take to arrive.

uvicorn drops idle keep-alive connections but has no limit on a request that is still arriving:
a client that sends headers a byte at a time, or a body that stalls, holds its connection and
what it sent for ever. Here each request must be read whole, headers and body, within
`read_timeout_s` of its first byte (of the connection, for the first request); past that the
client gets a 408 (if nothing was answered yet) and the connection is closed. The application
sees a disconnect, as for a client that went away.

    config = uvicorn.Config(app, http=protocol_with_read_timeout(10.0), ...)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

TIMEOUT_BODY = b"the request did not arrive in time\n"
TIMEOUT_RESPONSE = b"".join(
    [
        b"HTTP/1.1 408 Request Timeout\r\n",
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(TIMEOUT_BODY),
        b"connection: close\r\n\r\n",
        TIMEOUT_BODY,
    ]
)


class ReadTimeoutProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that closes a connection whose request does not arrive in time."""

    read_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self._read_deadline = self.loop.call_later(self.read_timeout_s, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        cycle: RequestResponseCycle | None = self.cycle  # None before the first request
        if cycle is None or not cycle.response_started:
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


def protocol_with_read_timeout(seconds: float) -> type[ReadTimeoutProtocol]:
    """The protocol class for uvicorn's `http=`, each request to arrive within `seconds`."""
    return type("ReadTimeoutProtocol", (ReadTimeoutProtocol,), {"read_timeout_s": seconds})
