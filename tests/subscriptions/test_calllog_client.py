"""Reading the call log against respx-mocked RingCentral answers: paging links, page shapes, the
query a sync sends, and the rate-limit penalty after a 429."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from subscriptions.calllog import CallLogPolicy, CallLogState, CallLogSyncer, PageProgress
from subscriptions.client import RetryPolicy, RingCentralClient
from subscriptions.errors import RateLimited, TransportError, UntrustedPageUri
from subscriptions.lifecycle import Mode
from subscriptions.ratelimit import RateGroup, RateLimiter
from subscriptions.tokens import StoredTokens, TokenManager
from tests.subscriptions.calllog_support import MemoryCallLogStore, MemoryTokenStore

HOST = "platform.example.test"
SERVER = f"https://{HOST}"
EXTENSION_LOG_PATH = "/restapi/v1.0/account/~/extension/~/call-log"
ACCOUNT_LOG_PATH = "/restapi/v1.0/account/~/call-log"
REAL_LOG_PATH = "/restapi/v1.0/account/37439510/extension/62242421016/call-log"
NEXT_PAGE = (
    f"{SERVER}{REAL_LOG_PATH}?view=Detailed&dateFrom=2026-03-01T00%3A00%3A00.000Z&page=2&perPage=2"
)
NOW = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)


class FakeTime:
    """A clock that moves only when someone sleeps on it; records the sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Bearer(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Bearer access-1"
        yield request


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(time: FakeTime) -> RingCentralClient:
    return RingCentralClient(
        httpx.AsyncClient(),
        server=SERVER,
        client_id="client-id",
        client_secret="client-secret",
        retry=RetryPolicy(sleep=time.sleep),
        limiter=RateLimiter(clock=time.clock, sleep=time.sleep),
    )


def record(number: int, **extra: Any) -> dict[str, Any]:
    return {
        "uri": f"{SERVER}{REAL_LOG_PATH}/rec-{number}?view=Detailed",
        "id": f"rec-{number}",
        "sessionId": f"10398113{number}",
        "startTime": "2026-03-01T10:00:00.000Z",
        "direction": "Inbound",
        "result": "Accepted",
        "extension": {"id": 62242421016, "uri": "..."},
        "legs": [{"legType": "Accept", "master": True, "result": "Accepted"}],
        **extra,
    }


def page(records: list[Any], next_page: str | None = None) -> dict[str, Any]:
    navigation: dict[str, Any] = {"firstPage": {"uri": f"{SERVER}{REAL_LOG_PATH}?page=1"}}
    if next_page is not None:
        navigation["nextPage"] = {"uri": next_page}
    return {
        "uri": f"{SERVER}{REAL_LOG_PATH}?page=1",
        "records": records,
        "paging": {"page": 1, "perPage": 2, "pageStart": 0, "pageEnd": len(records) - 1},
        "navigation": navigation,
    }


def log_route(path: str = EXTENSION_LOG_PATH) -> respx.Route:
    return respx.route(method="GET", host=HOST, path=path)


# paging ----------------------------------------------------------------------------------------


@respx.mock
async def test_pages_are_followed_by_their_navigation_link(client: RingCentralClient) -> None:
    first_records = [record(1, billing={"costIncluded": 0.1}), record(2, unknownField=[1, 2])]
    first = log_route().respond(200, json=page(first_records, next_page=NEXT_PAGE))
    second = log_route(REAL_LOG_PATH).respond(200, json=page([record(3)]))
    params = {"view": "Detailed", "perPage": "2", "page": "1"}

    one = await client.read_call_log(
        auth=Bearer(), rate_key="ext", account_level=False, params=params
    )
    assert one.next_page_uri is not None
    two = await client.read_call_log(
        auth=Bearer(), rate_key="ext", account_level=False, page_uri=one.next_page_uri
    )

    assert one.records == first_records  # exactly as sent, fields we do not know included
    assert (one.next_page_uri, one.malformed) == (NEXT_PAGE, 0)
    assert one.paging is not None
    assert (one.paging.page, one.paging.per_page, one.paging.page_end) == (1, 2, 1)
    assert two.records == [record(3)]
    assert two.next_page_uri is None
    assert dict(first.calls.last.request.url.params) == params
    assert second.calls.last.request.url == httpx.URL(NEXT_PAGE)
    assert second.calls.last.request.headers["Authorization"] == "Bearer access-1"


@respx.mock
async def test_account_level_reads_the_company_log(client: RingCentralClient) -> None:
    route = log_route(ACCOUNT_LOG_PATH).respond(200, json=page([record(1)]))
    result = await client.read_call_log(auth=Bearer(), rate_key="admin", account_level=True)
    assert result.records == [record(1)]
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("uri", "account_level"),
    [
        (f"https://evil.example.test{REAL_LOG_PATH}?page=2", False),
        (f"http://{HOST}{REAL_LOG_PATH}?page=2", False),
        (f"https://{HOST}:8443{REAL_LOG_PATH}?page=2", False),
        (f"https://{HOST}/restapi/v1.0/account/37439510/extension/1/message-store?page=2", False),
        (f"https://{HOST}/restapi/v1.0/account/37439510/call-log?page=2", False),
        (f"https://{HOST}{REAL_LOG_PATH}?page=2", True),
        (f"https://{HOST}/restapi/v1.0/account/1/extension/%2e%2e/call-log?page=2", False),
        (f"https://someone@{HOST}{REAL_LOG_PATH}?page=2", False),
        (f"{REAL_LOG_PATH}?page=2", False),
        (f"//evil.example.test{REAL_LOG_PATH}?page=2", False),
    ],
)
@respx.mock
async def test_a_page_link_off_our_server_or_call_log_is_refused_without_a_request(
    client: RingCentralClient, uri: str, account_level: bool
) -> None:
    anything = respx.route().respond(200, json=page([record(1)]))
    with pytest.raises(UntrustedPageUri):
        await client.read_call_log(
            auth=Bearer(), rate_key="ext", account_level=account_level, page_uri=uri
        )
    assert anything.call_count == 0


@pytest.mark.parametrize(
    "uri",
    [
        f"https://{HOST}:443{REAL_LOG_PATH}?page=2",
        f"https://PLATFORM.example.test{REAL_LOG_PATH}?page=2",
        f"https://{HOST}{EXTENSION_LOG_PATH}?page=2",
    ],
)
@respx.mock
async def test_equivalent_spellings_of_our_server_are_followed(
    client: RingCentralClient, uri: str
) -> None:
    route = respx.route(method="GET", host=HOST).respond(200, json=page([record(1)]))
    result = await client.read_call_log(
        auth=Bearer(), rate_key="ext", account_level=False, page_uri=uri
    )
    assert result.records == [record(1)]
    assert route.calls.last.request.url.params["page"] == "2"


# page shape ------------------------------------------------------------------------------------


@respx.mock
async def test_malformed_records_are_dropped_counted_and_logged_without_content(
    client: RingCentralClient,
) -> None:
    good = [record(1), record(2)]
    secret_text = "+14155550123 private caller"
    log_route().respond(
        200,
        json=page([good[0], secret_text, 42, None, {"id": 7}, {"uri": "x"}, {"id": ""}, good[1]]),
    )
    with capture_logs() as logs:
        result = await client.read_call_log(auth=Bearer(), rate_key="ext", account_level=False)
    assert result.records == good
    assert result.malformed == 6
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert warnings == [
        {"event": "ringcentral.call_log_malformed_records", "log_level": "warning", "dropped": 6}
    ]
    assert secret_text not in repr(logs)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Bad gateway</body></html>",
        b"",
        b"[]",
        b'{"uri": "x", "paging": {"page": 1}}',
        b'{"records": {"id": "rec-1"}}',
        b'{"records": [], "navigation": {"nextPage": {"uri": 5}}}',
        b'{"records": [], "navigation": "next"}',
    ],
)
@respx.mock
async def test_a_page_that_is_not_a_call_log_page_is_a_transport_error(
    client: RingCentralClient, body: bytes
) -> None:
    log_route().respond(200, content=body, headers={"Content-Type": "application/json"})
    with pytest.raises(TransportError, match="call-log page"):
        await client.read_call_log(auth=Bearer(), rate_key="ext", account_level=False)


@respx.mock
async def test_a_number_beyond_64_bits_is_read_as_json_reads_it(
    client: RingCentralClient,
) -> None:
    huge = 2**70
    log_route().respond(
        200,
        content=b'{"records": [{"id": "rec-1", "duration": %d}]}' % huge,
        headers={"Content-Type": "application/json"},
    )
    result = await client.read_call_log(auth=Bearer(), rate_key="ext", account_level=False)
    assert result.records == [{"id": "rec-1", "duration": huge}]


@respx.mock
async def test_unreadable_paging_is_left_out(client: RingCentralClient) -> None:
    body = {"records": [record(1)], "paging": {"page": "first"}}
    log_route().respond(200, json=body)
    result = await client.read_call_log(auth=Bearer(), rate_key="ext", account_level=False)
    assert (result.records, result.paging, result.next_page_uri) == ([record(1)], None, None)


# rate limits -----------------------------------------------------------------------------------


def too_many(retry_after: str | None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(
        429, headers=headers, json={"errorCode": "CMN-301", "message": "Request rate exceeded"}
    )


@pytest.mark.parametrize(("retry_after", "wait"), [("7", 7.0), (None, 30.0)])
@respx.mock
async def test_429_waits_for_retry_after_once_then_reads_the_page(
    client: RingCentralClient, time: FakeTime, retry_after: str | None, wait: float
) -> None:
    sent_at: list[float] = []
    answers = iter([too_many(retry_after), httpx.Response(200, json=page([record(1)]))])

    def answer(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.now)
        return next(answers)

    log_route().mock(side_effect=answer)
    result = await client.read_call_log(auth=Bearer(), rate_key="ext", account_level=False)
    assert result.records == [record(1)]
    assert time.waits == [wait]
    assert sent_at == [0.0, wait]


@respx.mock
async def test_a_penalty_holds_back_a_concurrent_request_of_the_same_user_and_group(
    time: FakeTime,
) -> None:
    penalised = asyncio.Event()
    release = asyncio.Event()
    retry_waits: list[float] = []

    async def retry_sleep(seconds: float) -> None:
        """The penalised caller's own wait; it lasts until the test releases it."""
        retry_waits.append(seconds)
        penalised.set()
        await release.wait()
        time.now = max(time.now, seconds)  # its wait began at 0

    client = RingCentralClient(
        httpx.AsyncClient(),
        server=SERVER,
        client_id="client-id",
        client_secret="client-secret",
        retry=RetryPolicy(sleep=retry_sleep),
        limiter=RateLimiter(clock=time.clock, sleep=time.sleep),
    )
    sent: list[tuple[str, float]] = []
    answers = iter([too_many("7")])

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.params["caller"], time.now))
        return next(answers, httpx.Response(200, json=page([record(1)])))

    log_route().mock(side_effect=answer)
    other_group = respx.get(f"{SERVER}/restapi/v1.0/subscription").respond(
        200, json={"records": []}
    )

    async def read(caller: str) -> None:
        await client.read_call_log(
            auth=Bearer(), rate_key="ext", account_level=False, params={"caller": caller}
        )

    first = asyncio.create_task(read("first"))
    await penalised.wait()
    # the Light group of the same user is not penalised
    assert await client.list_subscriptions(auth=Bearer(), rate_key="ext") == []
    await read("second")  # waits out the penalty on the limiter's clock
    release.set()
    await first

    assert sent == [("first", 0.0), ("second", 7.0), ("first", 7.0)]
    assert time.waits == [7.0]  # the second caller's wait
    assert retry_waits == [7.0]  # the first caller's own wait, not doubled by the limiter
    assert other_group.call_count == 1


@respx.mock
async def test_a_penalty_too_long_to_wait_for_still_holds_back_later_requests(
    client: RingCentralClient, time: FakeTime
) -> None:
    sent_at: list[float] = []
    answers = iter([too_many("600"), httpx.Response(200, json=page([record(1)]))])

    def answer(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.now)
        return next(answers)

    log_route().mock(side_effect=answer)
    with pytest.raises(RateLimited) as refused:
        await client.read_call_log(auth=Bearer(), rate_key="ext", account_level=False)
    assert refused.value.retry_after_s == 600
    assert time.waits == []

    await client.read_call_log(auth=Bearer(), rate_key="ext", account_level=False)
    assert sent_at == [0.0, 600.0]
    assert time.waits == [600.0]


async def test_a_slot_counts_from_when_its_answer_came_back(time: FakeTime) -> None:
    limiter = RateLimiter(dict.fromkeys(RateGroup, 1), clock=time.clock, sleep=time.sleep)
    slot = await limiter.acquire("ext", RateGroup.HEAVY)
    time.now = 5.0  # the answer took 5 s: RingCentral may have counted it as late as this
    limiter.answered(slot)
    time.now = 61.0
    await limiter.acquire("ext", RateGroup.HEAVY)
    assert time.waits == [4.0]


# what a sync asks for --------------------------------------------------------------------------


def syncer(client: RingCentralClient, store: MemoryCallLogStore, **policy: Any) -> CallLogSyncer:
    tokens = MemoryTokenStore(
        credentials={"62242421016": "unused.jwt"},
        tokens={
            "62242421016": StoredTokens(
                access_token="access-1",
                access_expires_at=NOW + timedelta(hours=1),
                refresh_token="refresh-1",
                refresh_expires_at=NOW + timedelta(days=7),
            )
        },
    )
    manager = TokenManager(client, tokens, clock=lambda: NOW)
    return CallLogSyncer(client, manager, store, policy=CallLogPolicy(**policy), clock=lambda: NOW)


@pytest.mark.parametrize(
    ("mode", "path"), [(Mode.EXTENSION, EXTENSION_LOG_PATH), (Mode.ACCOUNT, ACCOUNT_LOG_PATH)]
)
@respx.mock
async def test_a_sync_asks_for_the_detailed_view_of_its_date_range_in_full_pages(
    client: RingCentralClient, mode: Mode, path: str
) -> None:
    route = log_route(path).respond(200, json=page([]))
    store = MemoryCallLogStore()
    state = CallLogState("62242421016", mode, NOW - timedelta(minutes=30), open_since=None)

    report = await syncer(client, store).sync(state)

    assert report.error is None
    request = route.calls.last.request
    assert dict(request.url.params) == {
        "view": "Detailed",
        "dateFrom": "2026-03-02T09:30:00.123Z",  # the cursor less the 2 h overlap
        "dateTo": "2026-03-02T12:00:00.123Z",
        "perPage": "1000",
        "page": "1",
    }
    assert request.headers["Authorization"] == "Bearer access-1"


@respx.mock
async def test_a_sync_follows_pages_until_one_has_no_records(client: RingCentralClient) -> None:
    second_uri = f"{SERVER}{REAL_LOG_PATH}?page=2"
    third_uri = f"{SERVER}{REAL_LOG_PATH}?page=3"
    first = log_route().respond(200, json=page([record(1), record(2)], next_page=second_uri))
    later = log_route(REAL_LOG_PATH)
    later.side_effect = [
        httpx.Response(200, json=page([], next_page=third_uri)),
        httpx.Response(200, json=page([record(3)])),
    ]
    store = MemoryCallLogStore()
    progress: list[PageProgress] = []
    state = CallLogState("62242421016", Mode.EXTENSION, NOW - timedelta(hours=1), None)

    report = await syncer(client, store, per_page=2).sync(state, on_page=progress.append)

    assert (first.call_count, later.call_count) == (1, 1)
    assert (report.pages, report.records, report.new) == (2, 2, 2)
    assert [(p.pages, p.records) for p in progress] == [(1, 2), (2, 2)]
    assert store.ids("62242421016") == {"rec-1", "rec-2"}
    assert [w.synced_through for w in store.windows_done] == [NOW.replace(microsecond=123000)]


@respx.mock
async def test_paging_that_returns_to_a_page_already_read_fails_the_sync(
    client: RingCentralClient,
) -> None:
    loop_uri = f"{SERVER}{REAL_LOG_PATH}?page=2"
    log_route().respond(200, json=page([record(1)], next_page=loop_uri))
    log_route(REAL_LOG_PATH).respond(200, json=page([record(2)], next_page=loop_uri))
    store = MemoryCallLogStore()
    state = CallLogState("62242421016", Mode.EXTENSION, NOW - timedelta(hours=1), None)

    report = await syncer(client, store).sync(state)

    assert report.error is not None
    assert "already read" in report.error
    assert store.ids("62242421016") == {"rec-1", "rec-2"}
    assert store.windows_done == []
    assert [f.retry_at for f in store.failures] == [NOW + timedelta(minutes=1)]
