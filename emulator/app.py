"""The emulator's ASGI app (`create_emulator_app`) and a way to run it standalone (`run`).

`app.state.emulator` is the `Emulator` behind the app, for in-process control by tests and the
demo. The lifespan starts the shared HTTP client and the timer (expiry, renewal reminders).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from emulator.api import accounts, admin, calllog, oauth, subscriptions
from emulator.api.common import rc_error_handler
from emulator.config import EmulatorConfig
from emulator.directory import DirectoryError, UnknownEntityError
from emulator.dispatch import OutageError
from emulator.errors import RCError
from emulator.scenarios import ScenarioError
from emulator.state import Emulator


async def _admin_error(request: Request, exc: Exception) -> Response:
    status = 404 if isinstance(exc, UnknownEntityError) else 400
    code = "not_found" if status == 404 else "invalid_request"
    return JSONResponse({"error": {"code": code, "message": str(exc)}}, status_code=status)


def create_emulator_app(config: EmulatorConfig | None = None) -> FastAPI:
    """A fresh emulator (all state in memory) served as a FastAPI app."""
    emulator = Emulator(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.close()

    app = FastAPI(
        title="callsift RingCentral emulator",
        description="A stand-in for the RingCentral platform: OAuth, subscriptions, webhook "
        "delivery, call log, scenarios. Admin API under /_emulator.",
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    app.add_exception_handler(RCError, rc_error_handler)
    app.add_exception_handler(DirectoryError, _admin_error)
    app.add_exception_handler(ScenarioError, _admin_error)
    app.add_exception_handler(OutageError, _admin_error)
    for module in (oauth, subscriptions, accounts, calllog, admin):
        app.include_router(module.router)
    return app


def run(host: str = "127.0.0.1", port: int = 9000, seed: int = 0, *, demo: bool = False) -> None:
    """Serve the emulator until interrupted (`callsift emulator --host --port --seed`).

    With `demo`, a demo account (5 users, a queue, an IVR) and an app exist from the start.
    """
    config = replace(EmulatorConfig(seed=seed), server_url=f"http://{host}:{port}")
    app = create_emulator_app(config)
    if demo:
        emulator: Emulator = app.state.emulator
        emulator.create_app(name="callsift-demo")
        emulator.create_demo_account()
    uvicorn.run(app, host=host, port=port, log_level="info")
