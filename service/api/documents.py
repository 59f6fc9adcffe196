"""Serve stored outcome JSON without re-encoding it.

`call_outcomes.document` is the outcome as the processor serialised it (orjson, keys sorted,
without `revision` and `updated_at`). The API splices those two storage fields in front and embeds
the bytes as an `orjson.Fragment`, so a page of 1,000 outcomes is never parsed and re-dumped.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, as the stored outcomes write their times."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def outcome_fragment(document: str, *, revision: int, updated_at: datetime) -> orjson.Fragment:
    head = orjson.dumps({"revision": revision, "updated_at": iso(updated_at)})
    body = document.encode()
    if not body.startswith(b"{") or len(body) < 2:
        msg = "a stored outcome document is not a JSON object"
        raise ValueError(msg)
    separator = b"," if body != b"{}" else b""
    return orjson.Fragment(head[:-1] + separator + body[1:])


def outcome_dict(document: str, *, revision: int, updated_at: datetime) -> dict[str, object]:
    """The outcome as a dict (for CSV rows), with the storage fields added."""
    content: dict[str, object] = orjson.loads(document)
    content["revision"] = revision
    content["updated_at"] = iso(updated_at)
    return content
