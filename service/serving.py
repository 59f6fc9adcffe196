"""Run an ASGI app on a real loopback socket inside the current event loop.

Used by the demo (emulator and service side by side) and by the tests, which talk to the service
and the emulator over real HTTP. Port 0 asks the OS for a free port; the bound port is read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from service.http_protocol import protocol_with_read_timeout
from service.logging import IN_EMBEDDED_SERVER


@dataclass(frozen=True, slots=True)
class RunningServer:
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def bind_loopback(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening-ready TCP socket; port 0 lets the OS choose a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextlib.asynccontextmanager
async def serve(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    lifespan: Literal["auto", "on", "off"] = "on",
    sock: socket.socket | None = None,
    read_timeout_s: float = 10.0,
    max_connections: int | None = None,
) -> AsyncIterator[RunningServer]:
    """Serve `app` until the block exits; yields where it listens once it accepts connections.

    Pass `sock` (from `bind_loopback`) when the app must know its own address before it starts.
    Requests must arrive within `read_timeout_s`; past `max_connections`, 503 (`callsift run`
    takes both from the settings).
    """
    sock = sock or bind_loopback(host, port)
    host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        lifespan=lifespan,
        http=protocol_with_read_timeout(read_timeout_s),
        limit_concurrency=max_connections,
        # leave the process's logging alone: a log level or config here would apply to uvicorn's
        # loggers globally, silencing (or re-routing) the lines of `callsift run`'s own server
        log_level=None,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    context = contextvars.copy_context()
    context.run(IN_EMBEDDED_SERVER.set, True)
    task = asyncio.create_task(server.serve(sockets=[sock]), context=context)
    try:
        while not server.started:
            if task.done():
                task.result()
                msg = "server exited before it started"
                raise RuntimeError(msg)
            await asyncio.sleep(0.005)
        yield RunningServer(host, bound_port)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
