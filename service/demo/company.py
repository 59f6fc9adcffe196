"""Register the demo company's credentials through the real flow: JWT exchange, encrypted storage,
then a subscription pass that creates each webhook subscription (validation handshake included)."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from service.apikeys.keys import digest_of, generate_key
from service.apikeys.queries import find_active, insert_key, list_keys, revoke_key
from service.demo.platform import DemoPlatform
from service.ringcentral.registry import add_extension
from service.services import Services
from subscriptions.lifecycle import Mode, SyncResult

DEMO_KEY_NAME = "demo dashboard"
DEMO_KEY_FILE = Path(".callsift-demo-key")  # beside .callsift-secret-key, in the working folder


async def register_company(
    services: Services, platform: DemoPlatform, *, users: int
) -> list[SyncResult]:
    """Add the admin (account-level view) and `users` users (their own view and voicemail)."""
    assert services.ringcentral is not None
    assert services.subscriptions is not None
    for credential in platform.credentials(users):
        mode = Mode.ACCOUNT if credential.account_level else Mode.EXTENSION
        await add_extension(services.engine, services.ringcentral, jwt=credential.jwt, mode=mode)
    return await services.subscriptions.run_pass()


async def demo_api_key(engine: AsyncEngine, *, now: datetime, path: Path = DEMO_KEY_FILE) -> str:
    """The live demo's dashboard key: the one an earlier start saved in `path`, while it is still
    active in this database; else a new one, saved there, with older demo keys revoked (one demo
    key at a time, the same link across restarts)."""
    saved = await asyncio.to_thread(_read_saved, path)
    async with engine.begin() as connection:
        if saved and await find_active(connection, digest_of(saved)) is not None:
            return saved
        for stored in await list_keys(connection):
            if stored.name == DEMO_KEY_NAME and stored.revoked_at is None:
                await revoke_key(connection, stored.id, now)
        key = generate_key()
        await insert_key(connection, name=DEMO_KEY_NAME, key=key, now=now)
    await asyncio.to_thread(_save, path, key.secret)
    return key.secret


def _read_saved(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def _save(path: Path, secret: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")
