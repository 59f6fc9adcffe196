"""What a dashboard poll (`GET /v1/abandoned`) may ask, in one place: the route declares its
parameters from these limits, and the poll shortcut reads the raw query string with
`read_poll_query` before FastAPI does.

The shortcut only needs to recognise the plain, valid polls it can answer 304; whatever it does
not recognise (a parameter twice, an unknown one, a boolean word outside its short list, a limit
out of range) goes on to the route, which validates it and answers 422 where it must.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

MAX_LIMIT = 10_000
MAX_SINCE_CHARS = 512
PARAMETERS = frozenset({"since", "include_short", "limit"})
# a subset of the words the route's boolean parameter takes
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class PollQuery:
    since: str | None
    include_short: bool
    limit: int | None


def read_poll_query(query_string: bytes) -> PollQuery | None:
    """The poll's parameters, or None unless each is given at most once and plainly valid."""
    try:
        pairs = parse_qsl(query_string.decode("latin-1"), strict_parsing=False)
    except ValueError:
        return None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params or name not in PARAMETERS:
            return None
        params[name] = value
    since = params.get("since")
    if since is not None and len(since) > MAX_SINCE_CHARS:
        return None
    include_short = _boolean(params.get("include_short", "true"))
    if include_short is None:
        return None
    limit_text = params.get("limit")
    if limit_text is None:
        return PollQuery(since, include_short, None)
    if not (limit_text.isascii() and limit_text.isdigit() and 1 <= int(limit_text) <= MAX_LIMIT):
        return None
    return PollQuery(since, include_short, int(limit_text))


def _boolean(text: str) -> bool | None:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None
