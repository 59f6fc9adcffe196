"""The dashboard poll's shortcut: a caught-up `GET /v1/abandoned` answered 304 before FastAPI.

Dashboards poll every few seconds and almost every poll finds nothing new. `/v1/abandoned`
already decides that from one primary-key read (`abandoned`), but on the way there a request
crosses FastAPI's middleware stack, its dependency solver and parameter validation, which cost
more than the read itself. `PollShortcut` answers exactly the polls it can decide with the same
functions the route uses and hands every other request to the app unchanged:

- the API key must be one this process verified recently (otherwise the route checks it, records
  its use and caches it, and the next poll takes the shortcut);
- the query must be one `service.api.poll_request` reads (the route's parameters, each plainly
  valid, none twice) and `since` a change cursor;
- the cached summary must be current for the last change number (otherwise the route computes it);
- the poll must be caught up and its `If-None-Match` must match the ETag.

It reads the last change number outside a transaction (on PostgreSQL one round trip instead of
three), which is all the database work a caught-up poll needs.

Anything else, including a database error, goes to the route, which answers as it always does.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api import queries
from service.api.abandoned import NO_CACHE, etag_matches, make_etag
from service.api.cursors import BadCursor, decode_changes_cursor
from service.api.poll_request import read_poll_query
from service.api.running_service import ApiServices
from service.apikeys.keys import bearer_secret

POLL_PATH = "/v1/abandoned"
_NOT_MODIFIED_HEADERS = [(b"cache-control", NO_CACHE["Cache-Control"].encode())]


class PollShortcut:
    """ASGI: a caught-up, conditional `GET /v1/abandoned` gets its 304 here; all else goes on."""

    def __init__(self, app: ASGIApp, services: ApiServices, *, path: str = POLL_PATH) -> None:
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
        secret = bearer_secret(authorization.decode("latin-1"))
        if secret is None or not self.services.api.verified_keys.vouches_for(secret):
            return None
        poll = read_poll_query(scope["query_string"])
        if poll is None or poll.since is None:
            return None
        try:
            after_seq = decode_changes_cursor(poll.since)
        except BadCursor:
            return None
        try:
            last_seq = await _last_change_seq(self.services.engine)
        except Exception:  # the route meets the same failure and answers it properly
            return None
        if after_seq < last_seq:
            return None
        summary = self.services.api.summaries.peek(last_seq=last_seq, now=self.services.clock())
        if summary is None:
            return None
        etag = make_etag(last_seq, summary.digest, poll.include_short)
        return etag if etag_matches(if_none_match.decode("latin-1"), etag) else None


async def _last_change_seq(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await queries.last_change_seq_outside_transaction(connection)
