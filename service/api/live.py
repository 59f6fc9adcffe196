"""What is happening now, for the abandoned poll's summary: calls waiting in each queue and IVR
menu, ringing, in voicemail, on hold or connected, with the start of the longest-waiting call.

Computed with the summary (so it changes with the poll's ETag: any call that moves is a change
of its outcome) from the outcomes still in progress. An IVR menu is named from the directory;
a call whose menu the directory does not know is counted under `place: null`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers.outcome import Stage
from service.api import queries
from service.api.documents import iso
from service.ringcentral import queries as directory_queries

WAITING_STAGES = (Stage.QUEUE.value, Stage.IVR.value)
IVR_KIND = "IvrMenu"


@dataclass(frozen=True, slots=True)
class OpenCall:
    stage: str
    place: str | None
    started_at: datetime | None


def live_block(calls: Iterable[OpenCall]) -> dict[str, Any]:
    """Counts per stage, and per (stage, place) for the calls waiting in a queue or IVR."""
    stages: dict[str, list[OpenCall]] = {stage.value: [] for stage in Stage}
    places: dict[tuple[str, str | None], list[OpenCall]] = {}
    for call in calls:
        stages.setdefault(call.stage, []).append(call)
        if call.stage in WAITING_STAGES:
            places.setdefault((call.stage, call.place), []).append(call)
    waiting = [
        {"stage": stage, "place": place, **_group(group)}
        for (stage, place), group in places.items()
    ]
    waiting.sort(key=lambda row: (row["longest_since"] or "", row["stage"], row["place"] or ""))
    return {
        "waiting": waiting,
        "stages": {stage: _group(group) for stage, group in stages.items()},
    }


def _group(calls: list[OpenCall]) -> dict[str, Any]:
    starts = [call.started_at for call in calls if call.started_at is not None]
    return {"calls": len(calls), "longest_since": iso(min(starts)) if starts else None}


async def live_now(connection: AsyncConnection) -> dict[str, Any]:
    rows = await queries.open_calls(connection)
    menus = {
        index: _extensions(row.document)
        for index, row in enumerate(rows)
        if row.stage == Stage.IVR.value
    }
    every_extension = {extension for ids, _ in menus.values() for extension in ids}
    kinds = await directory_queries.directory_kinds(connection, every_extension)
    return live_block(
        OpenCall(
            stage=row.stage,
            place=row.queue if row.stage == Stage.QUEUE.value else _menu(menus.get(index), kinds),
            started_at=row.started_at,
        )
        for index, row in enumerate(rows)
    )


def _extensions(document: str) -> tuple[list[str], dict[str, str]]:
    content = orjson.loads(document)
    return list(content.get("extension_ids") or []), dict(content.get("names") or {})


def _menu(
    extensions: tuple[list[str], dict[str, str]] | None, kinds: Mapping[str, str]
) -> str | None:
    """The IVR menu among a call's extensions, by its directory name."""
    if extensions is None:
        return None
    extension_ids, names = extensions
    for extension_id in extension_ids:
        if kinds.get(extension_id) == IVR_KIND:
            return names.get(extension_id) or f"ext {extension_id}"
    return None
