"""Serve stored outcome JSON without re-encoding it.

`call_outcomes.document` is the outcome as the processor serialised it (orjson, keys sorted,
without the storage fields). The API splices the storage fields (`revision`, `updated_at`, and an
abandoned call's recovery) in front and embeds the bytes as an `orjson.Fragment`, so a page of
1,000 outcomes is never parsed and re-dumped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, as the stored outcomes write their times."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class StorageFields:
    """What storage adds to a classified outcome: its revision, when it last changed, and how
    it was recovered if it is an abandoned call that a later call reached."""

    revision: int
    updated_at: datetime
    recovered_at: datetime | None = None
    recovered_by: str | None = None
    time_to_recovery_s: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "updated_at": iso(self.updated_at),
            "recovered_at": iso(self.recovered_at),
            "recovered_by": self.recovered_by,
            "time_to_recovery_s": self.time_to_recovery_s,
        }


def outcome_fragment(document: str, storage: StorageFields) -> orjson.Fragment:
    head = orjson.dumps(storage.as_dict())
    body = document.encode()
    if not body.startswith(b"{") or len(body) < 2:
        msg = "a stored outcome document is not a JSON object"
        raise ValueError(msg)
    separator = b"," if body != b"{}" else b""
    return orjson.Fragment(head[:-1] + separator + body[1:])


def outcome_dict(document: str, storage: StorageFields) -> dict[str, object]:
    """The outcome as a dict (for CSV rows), with the storage fields added."""
    content: dict[str, object] = orjson.loads(document)
    content.update(storage.as_dict())
    return content
