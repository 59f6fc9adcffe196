"""Credentials, tokens and subscriptions kept alive against the RingCentral emulator, over real
HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from service.apikeys.keys import generate_key
from service.apikeys.queries import insert_key
from service.db.engine import create_engine
from service.db.tables import extensions, raw_events, webhook_tokens
from service.ringcentral import queries
from service.ringcentral.registry import remove_extension
from service.ringcentral.runtime import policy
from service.ringcentral.stores import DatabaseTokenStore
from subscriptions.client import RingCentralClient
from subscriptions.errors import CredentialInvalid
from subscriptions.lifecycle import Action
from subscriptions.tokens import TokenManager
from tests.subscriptions.harness import CLIENT_ID, CLIENT_SECRET, Harness, running

DAY = 24 * 3600.0
REFRESH_GRANT = "refresh_token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


async def _stored_event_count(harness: Harness) -> int:
    async with harness.services.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(raw_events)) or 0)


async def _health(harness: Harness) -> dict[str, queries.ExtensionHealth]:
    async with harness.services.engine.connect() as connection:
        return {row.extension_id: row for row in await queries.extension_overview(connection)}


async def test_twenty_extensions_get_active_subscriptions_whose_events_verify(
    database_url: str,
) -> None:
    async with running(database_url, users=20) as harness:
        users = harness.user_ids()
        for extension_id in users:
            await harness.register(extension_id)
        assert harness.grants.count(JWT_GRANT) == 20

        results = await harness.run_pass()

        assert sorted(r.extension_id for r in results) == users
        assert {r.action for r in results} == {Action.CREATED}
        live = harness.live_subscriptions()
        assert sorted(live) == users
        webhook_url = harness.settings.webhook_url
        for subscription in live.values():
            assert subscription.address == webhook_url
            assert subscription.verification_token is not None
        health = await _health(harness)
        assert {h.subscription_status for h in health.values()} == {"Active"}
        assert {h.subscription_id for h in health.values()} == {s.id for s in live.values()}
        async with harness.services.engine.connect() as connection:
            pending = await connection.scalar(
                select(func.count())
                .select_from(webhook_tokens)
                .where(webhook_tokens.c.subscription_id.is_(None))
            )
        assert pending == 0

        # the very first calls after creation verify against the stored token hashes
        play = await harness.emulator.play(["answered_direct"], count=3)
        await harness.settle()
        delivered = [d for d in harness.emulator.deliveries() if d.kind == "notification"]
        owners = {live_id: ext for ext, sub in live.items() for live_id in [sub.id]}
        played_owner = owners[delivered[0].subscription_id]
        assert delivered
        assert {d.status for d in delivered} == {200}
        assert await _stored_event_count(harness) == len(delivered)
        assert play.status == "done"

        # nothing is due right after creation: a second pass does nothing
        assert await harness.run_pass() == []

        # what an operator sees: GET /v1/extensions and the Prometheus gauges
        key = generate_key()
        async with harness.services.engine.begin() as connection:
            await insert_key(connection, name="ops", key=key, now=harness.emulator.now())
        async with httpx.AsyncClient(base_url=harness.service_url) as client:
            listing = await client.get(
                "/v1/extensions", headers={"Authorization": f"Bearer {key.secret}"}
            )
            unauthorised = await client.get("/v1/extensions")
            metrics = (await client.get("/metrics")).text
        assert listing.status_code == 200
        assert unauthorised.status_code == 401
        shown = {e["extension_id"]: e for e in listing.json()["extensions"]}
        assert sorted(shown) == users
        for extension_id, entry in shown.items():
            assert entry["credential"] == "active"
            assert entry["subscription_status"] == "Active"
            assert entry["subscription_id"] == live[extension_id].id
            assert entry["subscription_expires_at"] is not None
            assert entry["access_token_expires_at"] is not None
            assert entry["last_error"] is None
        assert shown[played_owner]["last_event_at"] is not None
        assert 'callsift_extensions{status="active"} 20.0' in metrics
        assert 'callsift_subscriptions{status="Active"} 20.0' in metrics
        assert "callsift_subscription_expires_in_seconds{" in metrics


async def test_renewal_blacklisting_and_expiry_over_time(database_url: str) -> None:
    async with running(database_url, users=3) as harness:
        first, second, third = harness.user_ids()
        for extension_id in (first, second, third):
            await harness.register(extension_id)
        await harness.run_pass()
        created = {ext: sub.id for ext, sub in harness.live_subscriptions().items()}

        await harness.advance(6.5 * DAY)  # within renew_before (24 h) of the 7-day expiry
        renewed = await harness.run_pass()
        assert {(r.extension_id, r.action) for r in renewed} == {
            (first, Action.RENEWED),
            (second, Action.RENEWED),
            (third, Action.RENEWED),
        }
        assert {ext: sub.id for ext, sub in harness.live_subscriptions().items()} == created
        expiry = harness.live_subscriptions()[first].expiration_time
        assert expiry > harness.emulator.now() + timedelta(days=6)

        harness.emulator.blacklist_subscription(created[first])
        harness.emulator.expire_subscription(created[second])
        await harness.advance(3600)  # the hourly status check finds both
        results = {r.extension_id: r for r in await harness.run_pass()}
        assert results[first].action is Action.RECREATED
        assert results[second].action is Action.RECREATED
        assert results[third].action is Action.CHECKED
        live = harness.live_subscriptions()
        assert sorted(live) == sorted([first, second, third])
        assert live[first].id != created[first]
        assert live[second].id != created[second]
        assert live[third].id == created[third]

        await harness.emulator.play(["answered_direct"], count=2)
        assert {d.status for d in harness.emulator.deliveries() if d.kind == "notification"} == {
            200
        }


async def test_a_simulated_month_keeps_every_subscription_active_with_one_jwt_login(
    database_url: str,
) -> None:
    async with running(database_url, users=3) as harness:
        users = harness.user_ids()
        for extension_id in users:
            await harness.register(extension_id)
        await harness.run_pass()
        step_s = 2 * 3600.0  # every pass finds expired access tokens and a status check due
        for step in range(int(30 * DAY / step_s)):
            await harness.advance(step_s)
            if step == 100:
                harness.emulator.blacklist_subscription(harness.live_subscriptions()[users[0]].id)
            if step == 200:
                harness.emulator.expire_subscription(harness.live_subscriptions()[users[1]].id)
            await harness.run_pass()
            assert sorted(harness.live_subscriptions()) == users, f"after step {step + 1}"

        # one JWT exchange per extension at registration; refresh tokens did the rest
        assert harness.grants.count(JWT_GRANT) == 3
        assert harness.grants.count(REFRESH_GRANT) >= 3 * 30 * 12 * 0.95
        health = await _health(harness)
        assert {h.status for h in health.values()} == {"active"}
        assert {h.subscription_status for h in health.values()} == {"Active"}


async def test_two_processes_racing_to_refresh_redeem_the_token_once(database_url: str) -> None:
    async with running(database_url, users=1) as harness:
        [extension_id] = harness.user_ids()
        await harness.register(extension_id)
        await harness.advance(2 * 3600)  # the access token has expired
        refreshes_before = harness.grants.count(REFRESH_GRANT)

        engines = [create_engine(harness.settings) for _ in range(2)]
        try:
            async with httpx.AsyncClient() as http_a, httpx.AsyncClient() as http_b:
                managers = [
                    TokenManager(
                        RingCentralClient(
                            http,
                            server=harness.emulator_url,
                            client_id=CLIENT_ID,
                            client_secret=CLIENT_SECRET,
                        ),
                        DatabaseTokenStore(engine, harness.runtime.box),
                        clock=harness.emulator.now,
                    )
                    for http, engine in zip((http_a, http_b), engines, strict=True)
                ]
                tokens = await asyncio.gather(*(m.access_token(extension_id) for m in managers))
        finally:
            for engine in engines:
                await engine.dispose()

        assert tokens[0] == tokens[1]
        assert harness.grants.count(REFRESH_GRANT) - refreshes_before == 1
        assert harness.grants.count(JWT_GRANT) == 1


async def test_refused_refresh_token_recovers_with_the_jwt(database_url: str) -> None:
    async with running(database_url, users=1) as harness:
        [extension_id] = harness.user_ids()
        await harness.register(extension_id)
        await harness.run_pass()
        stored = await harness.runtime.token_store.read_tokens(extension_id)
        assert stored is not None
        assert stored.refresh_token is not None
        # RingCentral ends the session (e.g. the user signed out everywhere)
        harness.emulator.oauth.revoke(stored.refresh_token)

        await harness.advance(6.5 * DAY)
        [result] = await harness.run_pass()

        assert result.action is Action.RENEWED
        assert harness.grants.count(JWT_GRANT) == 2
        renewed = await harness.runtime.token_store.read_tokens(extension_id)
        assert renewed is not None
        assert renewed.access_token != stored.access_token


async def test_a_revoked_jwt_marks_only_that_extension_invalid(database_url: str) -> None:
    async with running(database_url, users=3) as harness:
        broken, *others = harness.user_ids()
        for extension_id in harness.user_ids():
            await harness.register(extension_id)
        await harness.run_pass()
        stored = await harness.runtime.token_store.read_tokens(broken)
        assert stored is not None
        assert stored.refresh_token is not None
        harness.emulator.oauth.revoke(stored.refresh_token)
        harness.emulator.revoke_jwt(harness.jwts[broken])

        await harness.advance(6.5 * DAY)
        results = {r.extension_id: r for r in await harness.run_pass()}

        assert results[broken].action is Action.CREDENTIAL_INVALID
        assert all(results[e].action is Action.RENEWED for e in others)
        health = await _health(harness)
        assert health[broken].status == "credential_invalid"
        assert health[broken].status_reason
        assert {health[e].status for e in others} == {"active"}
        # an invalid extension is no longer claimed by the loop
        await harness.advance(3600)
        assert broken not in {r.extension_id for r in await harness.run_pass()}
        with pytest.raises(CredentialInvalid) as refused:
            await harness.runtime.tokens.access_token(broken)
        assert refused.value.extension_id == broken


async def test_removing_an_extension_deletes_its_subscription_and_session(
    database_url: str,
) -> None:
    async with running(database_url, users=2) as harness:
        gone, kept = harness.user_ids()
        for extension_id in (gone, kept):
            await harness.register(extension_id)
        await harness.run_pass()
        keeper = harness.runtime.keeper(harness.services.engine, policy(harness.settings))

        removed = await remove_extension(harness.services.engine, keeper, gone)
        assert removed is not None
        assert removed.remote_error is None

        assert sorted(harness.live_subscriptions()) == [kept]
        async with harness.services.engine.connect() as connection:
            remaining = (await connection.execute(select(extensions.c.extension_id))).scalars()
            assert list(remaining) == [kept]
        assert await remove_extension(harness.services.engine, keeper, gone) is None
