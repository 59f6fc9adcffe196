"""Bearer API keys on every /v1 route (missing, wrong, revoked -> 401 JSON with
WWW-Authenticate), open operational routes, and the `callsift api-keys` commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from service.apikeys import queries
from service.apikeys.keys import digest_of, generate_key
from service.apikeys.verifier import VerifiedKeys
from service.cli.apikeys import list_keys, revoke_key
from service.db.engine import create_engine
from service.settings import Settings
from tests.api.conftest import Api, new_key
from tests.api.support import WEBHOOK_HEADERS, placed

V1_ROUTES = [
    "/v1/calls",
    "/v1/calls/s-anything",
    "/v1/calls.csv",
    "/v1/abandoned",
    "/v1/stats/outcomes",
    "/v1/info",
]


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.fixture
def no_cache_settings(api_settings: Settings) -> Settings:
    """Keys checked against the database on every request (a revocation applies at once)."""
    return api_settings.model_copy(update={"api_key_cache_s": 0.0})


class TestBearerKeys:
    @pytest.mark.parametrize("path", V1_ROUTES)
    async def test_missing_key(self, api: Api, path: str) -> None:
        async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
            assert_unauthorized(await anonymous.get(path))

    @pytest.mark.parametrize(
        "authorization",
        [
            "Bearer csk_wrongwrongwrongwrongwrongwrongwrongwrongwro",
            "Bearer not-even-shaped-like-a-key",
            "Basic dXNlcjpwYXNz",
        ],
    )
    async def test_wrong_key(self, api: Api, authorization: str) -> None:
        response = await api.client.get("/v1/info", headers={"Authorization": authorization})
        assert_unauthorized(response)

    async def test_a_good_key_works_and_its_use_is_recorded(self, api: Api) -> None:
        response = await api.client.get("/v1/info")
        assert response.status_code == 200
        assert response.json()["database"] in {"sqlite", "postgresql"}
        [stored] = await _keys(api.settings)
        assert stored.last_used_at == api.clock.now

    async def test_a_revoked_key_is_refused(self, no_cache_settings: Settings) -> None:
        from service.app import create_app
        from service.serving import serve

        key = await new_key(no_cache_settings)
        async with serve(create_app(no_cache_settings)) as server:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as client:
                assert (await client.get("/v1/calls")).status_code == 200
                [stored] = await _keys(no_cache_settings)
                engine = create_engine(no_cache_settings)
                try:
                    assert await revoke_key(engine, stored.id)
                finally:
                    await engine.dispose()
                assert_unauthorized(await client.get("/v1/calls"))

    async def test_operational_routes_stay_open(self, api: Api) -> None:
        async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
            for path in ("/healthz", "/readyz", "/metrics", "/dashboard", "/docs", "/openapi.json"):
                assert (await anonymous.get(path)).status_code == 200, path
            call = placed("answered-direct-ext", at=api.clock.now, hex_id="5" * 32)
            posted = await anonymous.post(
                "/webhooks/ringcentral", content=orjson.dumps(call[0]), headers=WEBHOOK_HEADERS
            )
            assert posted.status_code == 200


async def _keys(settings: Settings) -> list[queries.StoredKey]:
    engine = create_engine(settings)
    try:
        return await list_keys(engine)
    finally:
        await engine.dispose()


class TestVerifiedKeyCache:
    def test_entries_expire(self) -> None:
        now = [100.0]
        cache = VerifiedKeys(30.0, clock=lambda: now[0])
        digest = digest_of(generate_key().secret)
        assert not cache.is_fresh(digest)
        cache.remember(digest)
        assert cache.is_fresh(digest)
        now[0] += 30.0
        assert not cache.is_fresh(digest)

    def test_a_zero_ttl_remembers_nothing(self) -> None:
        cache = VerifiedKeys(0.0)
        digest = digest_of("csk_x")
        cache.remember(digest)
        assert not cache.is_fresh(digest)

    def test_keys_are_prefixed_random_and_stored_as_sha256(self) -> None:
        first, second = generate_key(), generate_key()
        assert first.secret.startswith("csk_")
        assert first.secret != second.secret
        assert len(first.secret) >= 40
        assert first.digest == digest_of(first.secret)
        assert len(first.digest) == 64
        assert first.prefix == first.secret[:12]


def callsift(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `callsift` command (a real process: no state leaks into the tests)."""
    command = Path(sys.executable).with_name("callsift")
    env = {**os.environ, "CALLSIFT_DATABASE_URL": database_url}
    return subprocess.run(
        [str(command), *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_creates_lists_and_revokes_keys(database_url: str) -> None:
    created = callsift(database_url, "api-keys", "create", "--name", "wallboard")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("csk_")
    assert "not shown again" in created.stderr
    settings = Settings(_env_file=None, database_url=database_url)
    [stored] = asyncio.run(_keys(settings))
    assert (stored.name, stored.revoked_at) == ("wallboard", None)
    assert asyncio.run(_active(settings, key)) is not None

    listed = callsift(database_url, "api-keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "wallboard" in listed.stdout
    assert key[:12] in listed.stdout
    assert key not in listed.stdout

    revoked = callsift(database_url, "api-keys", "revoke", str(stored.id))
    assert revoked.returncode == 0, revoked.stderr
    assert asyncio.run(_active(settings, key)) is None
    again = callsift(database_url, "api-keys", "revoke", str(stored.id))
    assert again.returncode == 2
    assert "no active API key" in again.stderr


async def _active(settings: Settings, key: str) -> queries.ActiveKey | None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return await queries.find_active(connection, digest_of(key))
    finally:
        await engine.dispose()
