"""`GET /dashboard`: serves the page. The page itself holds no data; it asks for an API key and
reads everything with that key: /v1/abandoned (the feed and today's figures), /v1/calls/{id}
(a call's detail), /v1/stats/outcomes and /v1/stats/trend (the queue and agent tables and the
trend)."""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["dashboard"])

# Inline script and style are the page's own; it talks to this origin only.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@functools.cache
def page() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


@router.get("/dashboard", response_class=HTMLResponse, summary="Live abandoned-call dashboard")
async def dashboard() -> HTMLResponse:
    """The dashboard page. Open it as `/dashboard#key=<API key>` or enter the key when asked;
    it is kept in the browser's localStorage."""
    return HTMLResponse(page(), headers=PAGE_HEADERS)
