"""Register the demo company's credentials through the real flow: JWT exchange, encrypted storage,
then a subscription pass that creates each webhook subscription (validation handshake included)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from service.apikeys.keys import generate_key
from service.apikeys.queries import insert_key
from service.demo.platform import DemoPlatform
from service.ringcentral.registry import add_extension
from service.state import Services
from subscriptions.lifecycle import Mode, SyncResult


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


async def create_demo_api_key(engine: AsyncEngine, services: Services) -> str:
    key = generate_key()
    async with engine.begin() as connection:
        await insert_key(connection, name="demo dashboard", key=key, now=services.clock())
    return key.secret
