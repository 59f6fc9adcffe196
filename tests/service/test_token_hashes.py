"""The webhook's view of our verification tokens: a token stored a moment after another lookup
(a handshake's or a forged token's) is still found on its first use, by waiting out the reload
rate limit rather than refusing it (a new subscription's first notifications were answered 403
when RingCentral's handshake had just used up the reload)."""

from __future__ import annotations

from datetime import UTC, datetime

from service.db.engine import create_engine
from service.ringcentral import queries
from service.ringcentral.stores import DatabaseTokenHashes
from service.settings import Settings
from service.webhooks.verification import TokenEntry, token_hash

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


async def test_a_token_stored_right_after_a_lookup_is_found_at_once(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        hashes = DatabaseTokenHashes(engine, clock=lambda: NOW)
        assert await hashes.lookup(token_hash("a-handshake-token")) is None  # reloaded just now
        async with engine.begin() as connection:
            await queries.insert_webhook_token(
                connection,
                {
                    "token_hash": token_hash("our-new-token"),
                    "extension_id": "300401016",
                    "subscription_id": None,
                    "created_at": NOW,
                    "retired_at": None,
                },
            )
        assert await hashes.lookup(token_hash("our-new-token")) == TokenEntry(None)
        assert await hashes.lookup(token_hash("forged")) is None
    finally:
        await engine.dispose()
