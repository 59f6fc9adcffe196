"""A JSON response rendered with orjson (FastAPI's own ORJSONResponse is deprecated)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    options = orjson.OPT_NON_STR_KEYS

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=self.options)


class UtcOrjsonResponse(OrjsonResponse):
    """For bodies that carry their UTC times as datetimes: orjson writes each as
    `service.api.documents.iso` would (RFC 3339 with `Z`), in C, where formatting thousands of
    them in Python is milliseconds of the event loop (the callback list)."""

    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
