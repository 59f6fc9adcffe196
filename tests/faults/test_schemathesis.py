"""The query API against its own OpenAPI document, with schemathesis (the fault suite, tracker
issue 12), on SQLite and PostgreSQL.

The service runs as `callsift run` serves it, on a real loopback socket, with a day of calls
stored and processed (tests/api/day.py), a call at the time and under the session id the
documented examples use, a call the call log corrected, and calls known only from the call log
(one keyed `session:<sessionId>`), so that the routes return rows of every kind. For every
operation of the document schemathesis sends, over HTTP with a valid API key
(`Authorization: Bearer csk_...`), the documented examples, its coverage cases (boundary
values, missing and malformed parameters, other methods) and generated ones, valid and invalid:

- `test_every_answer_is_documented`: no 5xx; status code, content type, headers and body as the
  document says; a key-protected route refuses the request without its key (401); another
  method gets 405 with `Allow`.
- `test_requests_the_document_calls_invalid_are_refused`: a request the document says is
  invalid (a `to` that is no date-time, say) is refused with a 4xx.
- `test_requests_the_document_calls_valid_are_accepted`: a request the document says is valid is
  answered 2xx, 401, 404, or one of the 422s that docs/api.md documents for what the document
  cannot express (`INEXPRESSIBLE_REJECTIONS`: an opaque cursor, a time zone name, times outside
  1970-2200 or out of order, too many buckets, a trend date whose weeks before it fall outside
  1970-2200, a NUL character).

Every operation of `/openapi.json` is tested: the JSON API (`/v1/...`), `/healthz`, `/readyz`,
`/metrics` (documented without a media type: status only) and `/dashboard` (text/html). The
webhook (`POST /webhooks/ringcentral`) is not in the document, so not here:
tests/faults/test_webhook_bodies.py fuzzes it.

The server runs on an event loop of its own, in a thread: schemathesis calls it synchronously
(with requests), which would block a loop the server shared. The pytest integration generates
one test per operation from the document the app builds; a test checks that the live service
serves exactly that document. (schemathesis's lazy `from_fixture` schemas, which would load it
from the live service, fail under pytest 9: they set `Function._nodeid`.)
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from pydantic import SecretStr
from schemathesis import checks
from schemathesis.core.failures import Failure

from fixtures.builder import ACCOUNT_VIEW, ALICE, CallBuilder, callee, pstn_caller
from service.app import create_app, with_fast_paths
from service.calllog.store import DatabaseCallLogStore
from service.db.engine import create_engine
from service.serving import serve
from service.settings import Settings
from tests.api.conftest import API_NOW, FixedClock, new_key
from tests.api.day import PROCESSED_AT, day_notifications
from tests.api.support import Notification, drain, placed, post
from tests.conftest import WEBHOOK_TOKEN
from tests.support.databases import PostgresTestDatabase, SqliteTemplate

T = TypeVar("T")
OpenApiCase = schemathesis.Case[Any]  # a case of any operation

MAX_EXAMPLES = 25  # generated cases per operation; the examples and coverage phases add theirs
# The call the documented examples name: `s-52e839cb...` (docs/api.md), started on 2026-03-02.
DOCUMENTED_SESSION_HEX = "52e839cb4ce5a9aa424d99ef43200490"
DOCUMENTED_START = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)
LOGGED_AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _schema_document() -> dict[str, Any]:
    """The OpenAPI document the app builds (it connects to no database to build it)."""
    nowhere = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    app = create_app(Settings(_env_file=None, database_url=nowhere))
    document: dict[str, Any] = app.openapi()
    return document


DOCUMENT = _schema_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@dataclass(frozen=True, slots=True)
class SeededApi:
    base_url: str
    key: str


# What schemathesis's auth puts in `Authorization` when it builds a case (the documented examples
# and the coverage cases are built when the tests are collected, before any service has a key);
# `with_key` puts the key of the service under test in its place just before the case is sent.
KEY_PLACEHOLDER = "Bearer csk_placeholder-for-the-key-of-the-service-under-test"


@schema.auth(refresh_interval=None)
class BearerApiKey:
    """The API key as schemathesis's own auth, so that it knows which header carries it: it
    takes the key away to check that a protected route refuses the request without it."""

    def get(self, case: OpenApiCase, context: schemathesis.AuthContext) -> str:
        return KEY_PLACEHOLDER

    def set(self, case: OpenApiCase, data: str, context: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = data


def with_key(case: OpenApiCase, api: SeededApi) -> OpenApiCase:
    """A copy of the case with the service's key where schemathesis's auth put its placeholder
    (the cases of the examples and coverage phases are shared by both databases: never changed in
    place). Every valid case of a `/v1` route has it; a case testing a missing or malformed key
    keeps what it has."""
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and case.operation.path.startswith("/v1/"):
        assert case.headers.get("Authorization") == KEY_PLACEHOLDER, case.headers
    if case.headers.get("Authorization") != KEY_PLACEHOLDER:
        return case
    headers = case.headers.copy()
    headers["Authorization"] = f"Bearer {api.key}"
    return case.derive(headers=headers, keep_auth=True)


class LoopThread:
    """An event loop running in a thread of its own; `run` hands it a coroutine and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="callsift-api")

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def run(self, work: Coroutine[Any, Any, T], timeout_s: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout_s)

    def __exit__(self, *exc_info: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


def _call_log_calls() -> tuple[list[Notification], list[dict[str, Any]]]:
    """A call the call log corrects (events say missed, the record says the caller hung up), a
    call whose webhooks were all lost, and an old record with only a `sessionId`."""
    corrected = CallBuilder("schemathesis-corrected", LOGGED_AT)
    caller, alice = pstn_caller(), callee(2, ALICE)
    corrected.at(0.0, caller, "Setup")
    corrected.at(0.05, alice, "Setup")
    corrected.at(0.1, caller, "Answered")
    corrected.at(0.2, alice, "Proceeding")
    corrected.at(24.0, alice, "Disconnected", reason="Timeout", missed=True)
    corrected.at(24.5, caller, "Disconnected")
    lost = CallBuilder("schemathesis-lost", LOGGED_AT.replace(minute=10))
    old = CallBuilder("schemathesis-old-record", LOGGED_AT.replace(minute=20))
    records = [
        corrected.call_log_record(ALICE, result="Missed", reason="Hang Up", duration_s=24),
        lost.call_log_record(ALICE, result="Missed", reason="Hang Up", duration_s=40),
        old.call_log_record(
            ALICE, result="Voicemail", reason=None, duration_s=30, telephony_session=False
        ),
    ]
    return corrected.notifications(ACCOUNT_VIEW), records


async def _seed(settings: Settings, base_url: str) -> None:
    events, records = _call_log_calls()
    documented = placed(
        "abandoned-queue-account", at=DOCUMENTED_START, hex_id=DOCUMENTED_SESSION_HEX
    )
    await post(base_url, [*day_notifications(), *documented, *events])
    engine = create_engine(settings)
    try:
        store = DatabaseCallLogStore(engine, clock=lambda: PROCESSED_AT, next_due=lambda at: at)
        await store.save_records(ALICE, records, fetched_at=PROCESSED_AT)
    finally:
        await engine.dispose()
    await drain(settings, now=PROCESSED_AT)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeededApi]:
    """The service with its data, one per database for all the operations of this module."""
    if request.param == "sqlite":
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")
        url = template.fresh_copy(tmp_path_factory.mktemp("schemathesis"))
    else:
        database: PostgresTestDatabase = request.getfixturevalue("postgres_database")
        database.truncate()
        url = database.url
    settings = Settings(
        _env_file=None,
        database_url=url,
        webhook_verification_token=SecretStr(WEBHOOK_TOKEN),
        processor_enabled=False,
    )
    with LoopThread() as thread:
        stack = AsyncExitStack()

        async def start() -> SeededApi:
            key = await new_key(settings)
            app = create_app(settings, clock=FixedClock(API_NOW))
            server = await stack.enter_async_context(serve(with_fast_paths(app)))
            await _seed(settings, server.base_url)
            return SeededApi(server.base_url, key)

        try:
            yield thread.run(start())
        finally:
            thread.run(stack.aclose())


def test_the_live_service_serves_the_document_tested(seeded_api: SeededApi) -> None:
    response = httpx.get(f"{seeded_api.base_url}/openapi.json")
    assert response.status_code == 200
    assert response.json() == DOCUMENT


def test_the_routes_have_rows_of_every_kind_to_return(seeded_api: SeededApi) -> None:
    auth = {"Authorization": f"Bearer {seeded_api.key}"}
    with httpx.Client(base_url=seeded_api.base_url, headers=auth) as client:

        def sessions(**filters: str) -> list[str]:
            response = client.get("/v1/calls", params={"limit": "1000", **filters})
            assert response.status_code == 200, response.text
            return [item["telephony_session_id"] for item in response.json()["items"]]

        assert len(sessions()) == 19
        assert len(sessions(reconciliation="call_log_corrected")) == 1
        only_logged = sessions(reconciliation="call_log_only")
        assert len(only_logged) == 2
        assert any(session.startswith("session:") for session in only_logged)
        documented = client.get(f"/v1/calls/s-{DOCUMENTED_SESSION_HEX}")
        assert documented.status_code == 200
        assert documented.json()["events"]


# Documented 422s (docs/api.md, "Errors") for requests the document cannot tell from valid ones:
# an opaque cursor, a time zone name, a time outside 1970-2200 or after `to`, too many buckets, a
# NUL character. Any other 422 for a schema-valid request stays a failure: an unknown category,
# source or reconciliation, say, which the document lets through as any string.
INEXPRESSIBLE_REJECTIONS: dict[str | None, tuple[str, ...]] = {
    "cursor": ("not a cursor from a previous page",),
    "since": ("neither a cursor from a previous poll nor an ISO 8601 time", "must be between"),
    "tz": ("unknown time zone",),
    "from": ("must be between 1970-01-01 and 2200-01-01", "must be before `to`"),
    "to": ("must be between 1970-01-01 and 2200-01-01",),
    "group_by": ("more than 10000",),
    "date": ("must be between 1970-01-02 and 2199-12-30",),  # with `weeks` weeks before it
    None: ("must not contain a NUL character",),  # any parameter
}


def is_inexpressible_rejection(response: schemathesis.Response) -> bool:
    if response.status_code != 422:
        return False
    error = response.json().get("error", {})
    parameter, message = error.get("parameter"), str(error.get("message", ""))
    reason = message.removeprefix(f"{parameter}: ")
    allowed = INEXPRESSIBLE_REJECTIONS.get(parameter, ()) + INEXPRESSIBLE_REJECTIONS[None]
    return reason.startswith(allowed)


def _string_patterns(parameter_schema: Any) -> list[str]:
    """The patterns a query parameter's strings (or array items) must match; `.*` for a string
    without one; none when the parameter takes no strings."""
    if not isinstance(parameter_schema, dict):
        return []
    if parameter_schema.get("type") == "string":
        return [parameter_schema.get("pattern", ".*")]
    found = _string_patterns(parameter_schema.get("items"))
    for option in parameter_schema.get("anyOf", []):
        found += _string_patterns(option)
    return found


def _takes_array(parameter_schema: Any) -> bool:
    if not isinstance(parameter_schema, dict):
        return False
    options = parameter_schema.get("anyOf", [])
    return parameter_schema.get("type") == "array" or any(map(_takes_array, options))


def _all_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _as_sent(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def is_valid_once_sent(case: OpenApiCase) -> bool:
    """A "schema-violating" query that is valid on the wire: the generator put a JSON boolean or
    number where the document takes strings, or one value where it takes an array (`?kind=true`
    for an array of kind names), but a query string carries only text, one item or many alike,
    and the text it sent is a valid value."""
    query = case.query or {}
    parameters = DOCUMENT["paths"][case.path][case.method.lower()].get("parameters", [])
    by_name = {parameter["name"]: parameter.get("schema") for parameter in parameters}
    confused = {
        name: value if isinstance(value, list) else [value]
        for name, value in query.items()
        if (isinstance(value, str) and _takes_array(by_name.get(name)))
        or (not isinstance(value, str) and not _all_strings(value))
    }
    if not confused:
        return False
    for name, values in confused.items():
        patterns = _string_patterns(by_name.get(name))
        sent = [_as_sent(value) for value in values]
        if not patterns or not all(
            any(re.search(pattern, text) for pattern in patterns) for text in sent
        ):
            return False
    return True


@schema.hook
def filter_failure(
    context: schemathesis.HookContext,
    failure: Failure,
    case: OpenApiCase,
    response: schemathesis.Response,
) -> bool:
    """Keep every failure but ST202 (a schema-valid request rejected) answered with one of the
    documented 422s above, and ST201 (a schema-violating request accepted) whose violation was a
    type the query string cannot carry."""
    if failure.code == "ST202" and is_inexpressible_rejection(response):
        return False
    return not (failure.code == "ST201" and is_valid_once_sent(case))


EXAMPLES = hypothesis.settings(
    max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
REQUEST_VALIDATION = [checks.negative_data_rejection, checks.positive_data_acceptance]


@schema.parametrize()
@EXAMPLES
def test_every_answer_is_documented(case: OpenApiCase, seeded_api: SeededApi) -> None:
    """No 5xx; status code, content type, headers and body as the document says; a protected
    route refuses the request without its key (401); other methods get 405 with `Allow`."""
    with_key(case, seeded_api).call_and_validate(
        base_url=seeded_api.base_url, excluded_checks=REQUEST_VALIDATION
    )


@schema.parametrize()
@EXAMPLES
def test_requests_the_document_calls_invalid_are_refused(
    case: OpenApiCase, seeded_api: SeededApi
) -> None:
    with_key(case, seeded_api).call_and_validate(
        base_url=seeded_api.base_url, checks=[checks.negative_data_rejection]
    )


@schema.parametrize()
@EXAMPLES
def test_requests_the_document_calls_valid_are_accepted(
    case: OpenApiCase, seeded_api: SeededApi
) -> None:
    """Accepted, or refused with one of the documented 422s the document cannot express."""
    with_key(case, seeded_api).call_and_validate(
        base_url=seeded_api.base_url, checks=[checks.positive_data_acceptance]
    )
