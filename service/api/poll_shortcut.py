"""The dashboard poll's shortcut: a caught-up `GET /v1/abandoned` answered 304 before FastAPI.

Dashboards poll every few seconds and almost every poll finds nothing new. `/v1/abandoned`
already decides that from one primary-key read (`abandoned`), but on the way there a request
crosses FastAPI's middleware stack, its dependency solver and parameter validation, which cost
more than the read itself. `PollShortcut` answers exactly the polls it can decide with the same
functions the route uses and hands every other request to the app unchanged:

- the API key must be one this process verified recently (otherwise the route checks it, records
  its use and caches it, and the next poll takes the shortcut);
- `since` must be a change cursor, `include_short` a plain boolean, `limit` (ignored by a 304) a
  valid one, with no parameter given twice and no other parameter;
- the cached summary must be current for the last change number (otherwise the route computes it);
- the poll must be caught up and its `If-None-Match` must match the ETag.

It reads the last change number outside a transaction (on PostgreSQL one round trip instead of
three), which is all the database work a caught-up poll needs; a poll it passes on after that
read carries the number in its request state, so the route does not read it again.

Anything else, including a database error, goes to the route, which answers as it always does.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api import queries
from service.api.abandoned import LAST_CHANGE_SEQ_STATE, NO_CACHE, etag_matches, make_etag
from service.api.cursors import BadCursor, decode_changes_cursor
from service.apikeys.keys import digest_of
from service.state import Services

POLL_PATH = "/v1/abandoned"
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
MAX_LIMIT = 10_000
MAX_SINCE_CHARS = 512
POLL_PARAMETERS = frozenset({"since", "include_short", "limit"})
_NOT_MODIFIED_HEADERS = [(b"cache-control", NO_CACHE["Cache-Control"].encode())]


class PollShortcut:
    """ASGI: a caught-up, conditional `GET /v1/abandoned` gets its 304 here; all else goes on."""

    def __init__(self, app: ASGIApp, services: Services, *, path: str = POLL_PATH) -> None:
        self.app = app
        self.services = services
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "GET":
            etag = await self._not_modified_etag(scope)
            if etag is not None:
                self.services.metrics.abandoned_polls.labels(result="not_modified").inc()
                headers = [(b"etag", etag.encode()), *_NOT_MODIFIED_HEADERS]
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)

    async def _not_modified_etag(self, scope: Scope) -> str | None:
        """The ETag to answer 304 with, or None when the route must answer."""
        authorization = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"if-none-match":
                if_none_match = value
        if authorization is None or not if_none_match:
            return None
        scheme, _, secret = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not secret:
            return None
        if not self.services.api.verified_keys.is_fresh(digest_of(secret.strip())):
            return None
        poll = _caught_up_poll(scope["query_string"])
        if poll is None:
            return None
        after_seq, include_short = poll
        try:
            last_seq = await _last_change_seq(self.services.engine)
        except Exception:  # the route meets the same failure and answers it properly
            return None
        # a poll that goes on to the route uses this number instead of reading it again
        scope.setdefault("state", {})[LAST_CHANGE_SEQ_STATE] = last_seq
        if after_seq < last_seq:
            return None
        summary = self.services.api.summaries.peek(last_seq=last_seq, now=self.services.clock())
        if summary is None:
            return None
        etag = make_etag(last_seq, summary.digest, include_short)
        return etag if etag_matches(if_none_match.decode("latin-1"), etag) else None


def _caught_up_poll(query_string: bytes) -> tuple[int, bool] | None:
    """(cursor's change number, include_short) of a poll the shortcut may answer, else None."""
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), strict_parsing=False)
    except ValueError:
        return None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params or name not in POLL_PARAMETERS:
            return None  # the route answers it (422 for a parameter it does not take)
        params[name] = value
    since = params.get("since")
    if since is None or len(since) > MAX_SINCE_CHARS:
        return None
    try:
        after_seq = decode_changes_cursor(since)
    except BadCursor:
        return None
    include_short = _boolean(params.get("include_short", "true"))
    if include_short is None or not _valid_limit(params.get("limit")):
        return None
    return after_seq, include_short


def _boolean(text: str) -> bool | None:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def _valid_limit(text: str | None) -> bool:
    if text is None:
        return True
    return text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_LIMIT


async def _last_change_seq(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await queries.last_change_seq_outside_transaction(connection)
