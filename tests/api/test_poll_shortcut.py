"""The dashboard poll's shortcut, on both databases: a caught-up poll from a key verified earlier
gets its 304 without reaching FastAPI; every poll it cannot decide is answered by the route, with
the route's answer (401, 422, 200)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from service.api import queries
from service.api.cursors import encode_changes_cursor
from service.api.poll_shortcut import PollShortcut
from service.services import Services
from tests.api.conftest import API_NOW, Api
from tests.api.test_abandoned import statements


@dataclass
class RecordingApp:
    """The app behind the shortcut, noting the query string of every request it gets."""

    api: Api
    seen: list[bytes] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(scope.get("query_string", b""))
        await self.api.app(scope, receive, send)


@dataclass
class Shortcut:
    client: httpx.AsyncClient
    behind: RecordingApp
    services: Services

    def not_modified_count(self) -> float:
        value = self.services.metrics.registry.get_sample_value(
            "callsift_abandoned_polls_total", {"result": "not_modified"}
        )
        return value or 0.0

    async def poll(self, *, etag: str | None = None, **params: Any) -> httpx.Response:
        headers = {"If-None-Match": etag} if etag else {}
        return await self.client.get("/v1/abandoned", params=params, headers=headers)


@pytest.fixture
async def shortcut(day_api: Api) -> AsyncIterator[Shortcut]:
    # the served app's lifespan is running; this drives the same app and services in-process
    services: Services = day_api.app.state.services
    behind = RecordingApp(day_api)
    transport = httpx.ASGITransport(app=PollShortcut(behind, services))
    headers = {"Authorization": f"Bearer {day_api.key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        yield Shortcut(c, behind, services)


async def caught_up(shortcut: Shortcut, **params: Any) -> tuple[str, str]:
    """Poll through the route (which also verifies and caches the key): (cursor, ETag)."""
    first = await shortcut.poll(**params)
    assert first.status_code == 200
    return first.json()["cursor"], first.headers["ETag"]


async def test_a_caught_up_poll_is_answered_without_the_app(shortcut: Shortcut) -> None:
    cursor, etag = await caught_up(shortcut)
    reached_app = len(shortcut.behind.seen)
    before = shortcut.not_modified_count()

    answer = await shortcut.poll(since=cursor, etag=etag)

    assert answer.status_code == 304
    assert answer.content == b""
    assert answer.headers["ETag"] == etag
    assert answer.headers["Cache-Control"] == "no-cache"
    assert len(shortcut.behind.seen) == reached_app
    assert shortcut.not_modified_count() == before + 1


async def test_it_answers_as_the_route_would_for_every_variant_of_a_caught_up_poll(
    shortcut: Shortcut, day_api: Api
) -> None:
    cursor, etag = await caught_up(shortcut, include_short="false")
    route = await day_api.client.get(
        "/v1/abandoned",
        params={"since": cursor, "include_short": "false", "limit": "5"},
        headers={"If-None-Match": f'W/"other", {etag}'},
    )
    direct = await shortcut.poll(since=cursor, include_short="off", limit="5", etag=etag)
    assert route.status_code == direct.status_code == 304
    assert route.headers["ETag"] == direct.headers["ETag"] == etag
    # the ETag of the other include_short does not match
    assert (await shortcut.poll(since=cursor, etag=etag)).status_code == 200


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": "0"}, 422),  # invalid limit: the route names the parameter
        ({"limit": "x"}, 422),
        ({"include_short": "maybe"}, 422),
        ({"since": "not-a-cursor"}, 422),
        ({"since": "2026-03-10T00:00:00Z"}, 200),  # a time, not a cursor: a first poll
        ({"since": encode_changes_cursor(0)}, 200),  # behind: the changes are listed
    ],
)
async def test_polls_it_cannot_decide_reach_the_route(
    shortcut: Shortcut, params: dict[str, str], status: int
) -> None:
    cursor, etag = await caught_up(shortcut)
    answer = await shortcut.poll(etag=etag, **({"since": cursor} | params))
    assert answer.status_code == status
    assert len(shortcut.behind.seen) == 2
    if status == 422:
        assert answer.json()["error"]["parameter"] in params


async def test_a_repeated_parameter_reaches_the_route(shortcut: Shortcut) -> None:
    cursor, etag = await caught_up(shortcut)
    answer = await shortcut.poll(etag=etag, since=[cursor, encode_changes_cursor(0)])
    assert len(shortcut.behind.seen) == 2
    assert answer.status_code == 200  # FastAPI takes the last value: a cursor behind


async def test_an_unknown_key_never_gets_a_304(shortcut: Shortcut) -> None:
    cursor, etag = await caught_up(shortcut)
    answer = await shortcut.client.get(
        "/v1/abandoned",
        params={"since": cursor},
        headers={"If-None-Match": etag, "Authorization": "Bearer csk_not-a-key"},
    )
    assert answer.status_code == 401
    no_key = await shortcut.client.get(
        "/v1/abandoned",
        params={"since": cursor},
        headers={"If-None-Match": etag, "Authorization": ""},
    )
    assert no_key.status_code == 401
    assert len(shortcut.behind.seen) == 3


async def test_a_summary_past_its_minute_is_left_to_the_route(
    shortcut: Shortcut, day_api: Api
) -> None:
    cursor, etag = await caught_up(shortcut)
    day_api.clock.now = API_NOW + timedelta(minutes=1)
    moved = await shortcut.poll(since=cursor, etag=etag)
    assert moved.status_code == 200
    assert moved.headers["ETag"] != etag
    assert len(shortcut.behind.seen) == 2
    again = await shortcut.poll(since=cursor, etag=moved.headers["ETag"])
    assert again.status_code == 304
    assert len(shortcut.behind.seen) == 2


async def test_other_requests_pass_through_untouched(shortcut: Shortcut) -> None:
    assert (await shortcut.client.get("/healthz")).status_code == 200
    assert (await shortcut.client.post("/v1/abandoned")).status_code == 405
    assert len(shortcut.behind.seen) == 2


async def test_its_change_number_read_agrees_with_the_route_s(shortcut: Shortcut) -> None:
    async with shortcut.services.engine.connect() as connection:
        outside = await queries.last_change_seq_outside_transaction(connection)
        inside = await queries.last_change_seq(connection)
    assert outside == inside > 0
    # the connection went back to the pool fit for use
    async with shortcut.services.engine.connect() as connection:
        assert await queries.last_change_seq(connection) == inside


async def test_a_poll_passed_on_is_answered_from_the_route_s_own_read(
    shortcut: Shortcut, day_api: Api
) -> None:
    """The shortcut hands the route nothing: a poll it passes on is read and answered by the
    route as if the shortcut were not there (one more primary-key read, on a path taken only
    when something changed)."""
    _, etag = await caught_up(shortcut)
    # one change behind: the shortcut reads the number, the route reads it and lists the change
    with statements(day_api) as sql:
        answer = await shortcut.poll(since=encode_changes_cursor(0), etag=etag)
    assert answer.status_code == 200
    assert answer.json()["changes"]
    counter_reads = [s for s in sql if "outcome_changes" in s and "call_outcomes" not in s]
    # on PostgreSQL the shortcut's read goes to asyncpg directly and is not seen here
    postgres = shortcut.services.engine.dialect.name == "postgresql"
    assert len(counter_reads) == (1 if postgres else 2), counter_reads
