"""The webhook contract (docs/api.md) over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fixtures.notifications import telephony_notification
from service.app import create_app
from service.db.engine import create_engine
from service.db.tables import quarantined_events, raw_events
from service.serving import serve
from service.settings import Settings
from tests.conftest import WEBHOOK_TOKEN, LiveService
from tests.support.notifications import encode, post_concurrently

JSON = {"Content-Type": "application/json; charset=UTF-8"}
AUTHENTIC = {**JSON, "Verification-Token": WEBHOOK_TOKEN}


async def stored_uuids(settings: Settings) -> list[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(select(raw_events.c.uuid))
            return sorted(result.scalars().all())
    finally:
        await engine.dispose()


async def quarantined(settings: Settings) -> list[tuple[str, bytes]]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                select(quarantined_events.c.error, quarantined_events.c.payload)
            )
            return [(row.error, row.payload) for row in result]
    finally:
        await engine.dispose()


async def count_rows(settings: Settings) -> tuple[int, int]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            events = await connection.scalar(select(func.count()).select_from(raw_events))
            held = await connection.scalar(select(func.count()).select_from(quarantined_events))
            return int(events or 0), int(held or 0)
    finally:
        await engine.dispose()


async def raw_http_exchange(host: str, port: int, request: bytes) -> bytes:
    """Send bytes on a fresh connection and read the whole response until the server closes."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    return response


class TestHandshake:
    async def test_echoes_token_in_a_tiny_response_and_stores_nothing(
        self, service: LiveService, settings: Settings
    ) -> None:
        token = b"8f5a2c1e-4b7d-4e0f-9a3c-2d6b1f0e7c95"
        request = (
            b"POST /webhooks/ringcentral HTTP/1.1\r\nHost: receiver\r\n"
            b"Validation-Token: " + token + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        response = await raw_http_exchange(service.server.host, service.server.port, request)

        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"\r\nvalidation-token: " + token + b"\r\n" in head.lower() + b"\r\n"
        assert body == b""
        assert len(response) < 1024
        assert await count_rows(settings) == (0, 0)

    async def test_needs_no_database(self, tmp_path: Path) -> None:
        unreachable = Settings(
            _env_file=None,
            database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
        )
        async with serve(create_app(unreachable)) as server, httpx.AsyncClient() as client:
            response = await client.post(
                f"{server.base_url}/webhooks/ringcentral", headers={"Validation-Token": "abc"}
            )
        assert response.status_code == 200
        assert response.headers["validation-token"] == "abc"


class TestNotifications:
    async def test_concurrent_posts_with_duplicates_store_each_uuid_once(
        self, service: LiveService, settings: Settings
    ) -> None:
        unique = [telephony_notification(sequence=n) for n in range(2, 402)]
        duplicates = unique[::4]
        bodies = [encode(n) for n in unique + duplicates]
        assert len(bodies) == 500

        responses = await post_concurrently(service.server.base_url, bodies, AUTHENTIC)

        assert [r.status_code for r in responses] == [200] * 500
        assert await stored_uuids(settings) == sorted(n["uuid"] for n in unique)
        metrics = (await service.client.get("/metrics")).text
        assert 'callsift_events_received_total{kind="telephony"} 400.0' in metrics
        assert "callsift_events_duplicate_total 100.0" in metrics

    async def test_stored_row_keeps_the_raw_body_and_the_session_keys(
        self, service: LiveService, settings: Settings
    ) -> None:
        notification = telephony_notification(sequence=7, status="Proceeding")
        body = encode(notification)
        response = await service.client.post(
            "/webhooks/ringcentral", content=body, headers=AUTHENTIC
        )
        assert response.status_code == 200

        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                row = (await connection.execute(select(raw_events))).one()
        finally:
            await engine.dispose()
        assert row.payload == body.decode()
        assert row.kind == "telephony"
        assert row.telephony_session_id == notification["body"]["telephonySessionId"]
        assert row.sequence == 7
        assert row.party_id == notification["body"]["parties"][0]["id"]
        assert row.event_time.isoformat().startswith("2026-11-02T14:00:07")

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param(JSON, id="missing"),
            pytest.param({**JSON, "Verification-Token": "not-the-token"}, id="wrong"),
            pytest.param({**JSON, "Verification-Token": WEBHOOK_TOKEN[:-1]}, id="prefix"),
        ],
    )
    async def test_bad_token_is_refused_and_nothing_stored(
        self, service: LiveService, settings: Settings, headers: dict[str, str]
    ) -> None:
        response = await service.client.post(
            "/webhooks/ringcentral", content=encode(telephony_notification()), headers=headers
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
        assert await count_rows(settings) == (0, 0)

    async def test_validation_token_header_is_accepted_as_the_verification_token(
        self, service: LiveService, settings: Settings
    ) -> None:
        notification = telephony_notification()
        response = await service.client.post(
            "/webhooks/ringcentral",
            content=encode(notification),
            headers={**JSON, "Validation-Token": WEBHOOK_TOKEN},
        )
        assert response.status_code == 200
        assert await stored_uuids(settings) == [notification["uuid"]]

    async def test_body_over_the_limit_with_content_length_is_413(
        self, service: LiveService, settings: Settings
    ) -> None:
        body = b'{"padding": "' + b"x" * settings.max_body_bytes + b'"}'
        response = await service.client.post(
            "/webhooks/ringcentral", content=body, headers=AUTHENTIC
        )
        assert response.status_code == 413
        assert "max_body_bytes" in response.json()["error"]["message"]
        assert await count_rows(settings) == (0, 0)

    async def test_chunked_body_over_the_limit_is_413(
        self, service: LiveService, settings: Settings
    ) -> None:
        chunk = b"x" * 65536
        chunks_needed = settings.max_body_bytes // len(chunk) + 2

        async def chunked() -> AsyncIterator[bytes]:
            yield b'{"padding": "'
            for _ in range(chunks_needed):
                yield chunk

        request = service.client.build_request(
            "POST", "/webhooks/ringcentral", content=chunked(), headers=AUTHENTIC
        )
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        response = await service.client.send(request)
        assert response.status_code == 413
        assert await count_rows(settings) == (0, 0)

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded", None]
    )
    async def test_non_json_content_type_is_415(
        self, service: LiveService, settings: Settings, content_type: str | None
    ) -> None:
        headers = {"Verification-Token": WEBHOOK_TOKEN}
        if content_type:
            headers["Content-Type"] = content_type
        response = await service.client.post(
            "/webhooks/ringcentral", content=encode(telephony_notification()), headers=headers
        )
        assert response.status_code == 415
        assert await count_rows(settings) == (0, 0)

    async def test_other_methods_are_405(self, service: LiveService) -> None:
        response = await service.client.get("/webhooks/ringcentral")
        assert response.status_code == 405


class TestQuarantine:
    async def test_broken_json_with_a_good_token_is_quarantined_and_acknowledged(
        self, service: LiveService, settings: Settings
    ) -> None:
        body = b'{"uuid": "123", "event": '
        response = await service.client.post(
            "/webhooks/ringcentral", content=body, headers=AUTHENTIC
        )
        assert response.status_code == 200
        [(error, payload)] = await quarantined(settings)
        assert payload == body
        assert "not valid JSON" in error
        assert await stored_uuids(settings) == []

    @pytest.mark.parametrize(
        ("mutate", "field"),
        [
            (lambda n: n.update(subscriptionId="s" * 100), "subscriptionId"),
            (lambda n: n.update(ownerId="9" * 40), "ownerId"),
            (
                lambda n: n.update(event="/restapi/v1.0/account/1/extension/" + "7" * 40 + "/x"),
                "event (its extension id)",
            ),
            (lambda n: n.update(uuid="abc\x00def"), "uuid"),
            (lambda n: n["body"].update(telephonySessionId="s-\x00"), "body.telephonySessionId"),
            (lambda n: n["body"]["parties"][0].update(id="p-\x00"), "body.parties[0].id"),
            (lambda n: n["body"].update(eventTime="9999-12-31T23:59:59Z"), "body.eventTime"),
            (lambda n: n["body"].update(eventTime="0001-01-01T00:00:00Z"), "body.eventTime"),
            (lambda n: n["body"].update(eventTime="9999-12-31T23:30:00-01:00"), "body.eventTime"),
        ],
    )
    async def test_a_field_no_column_can_hold_is_quarantined_and_the_rest_stored(
        self,
        service: LiveService,
        settings: Settings,
        mutate: Callable[[dict[str, Any]], object],
        field: str,
    ) -> None:
        """Such a body once failed its whole group commit on every retry (503), taking the
        valid notifications of its batch with it."""
        poison = telephony_notification()
        mutate(poison)
        valid = [telephony_notification() for _ in range(5)]
        bodies = [encode(poison), *(encode(n) for n in valid)]
        responses = await asyncio.gather(
            *(
                service.client.post("/webhooks/ringcentral", content=body, headers=AUTHENTIC)
                for body in bodies
            )
        )
        assert [r.status_code for r in responses] == [200] * len(bodies)
        [(error, payload)] = await quarantined(settings)
        assert f"'{field}'" in error
        assert payload == bodies[0]
        assert await stored_uuids(settings) == sorted(n["uuid"] for n in valid)

    async def test_a_voicemail_created_at_the_end_of_the_calendar_is_quarantined(
        self, service: LiveService, settings: Settings
    ) -> None:
        notification = {
            "uuid": "vm-9999",
            "event": "/restapi/v1.0/account/1/extension/2/voicemail",
            "subscriptionId": "sub",
            "body": {"id": "1", "creationTime": "9999-12-31T23:59:59.999Z"},
        }
        response = await service.client.post(
            "/webhooks/ringcentral", content=encode(notification), headers=AUTHENTIC
        )
        assert response.status_code == 200
        [(error, _)] = await quarantined(settings)
        assert "'body.creationTime'" in error

    async def test_broken_json_with_a_bad_token_is_refused(
        self, service: LiveService, settings: Settings
    ) -> None:
        headers = {**JSON, "Verification-Token": "nope"}
        response = await service.client.post("/webhooks/ringcentral", content=b"{", headers=headers)
        assert response.status_code == 403
        assert await count_rows(settings) == (0, 0)

    @pytest.mark.parametrize(
        ("mutate", "field"),
        [
            (lambda n: n.pop("uuid"), "uuid"),
            (lambda n: n["body"].pop("telephonySessionId"), "body.telephonySessionId"),
            (lambda n: n["body"].update(sequence="seven"), "body.sequence"),
            (lambda n: n["body"].update(sequence=2**63), "body.sequence"),
            (lambda n: n["body"].update(eventTime="yesterday"), "body.eventTime"),
        ],
    )
    async def test_envelope_missing_a_needed_field_is_quarantined_naming_it(
        self,
        service: LiveService,
        settings: Settings,
        mutate: Callable[[dict[str, Any]], object],
        field: str,
    ) -> None:
        notification = telephony_notification()
        mutate(notification)
        response = await service.client.post(
            "/webhooks/ringcentral", content=encode(notification), headers=AUTHENTIC
        )
        assert response.status_code == 200
        [(error, _)] = await quarantined(settings)
        assert f"'{field}'" in error
