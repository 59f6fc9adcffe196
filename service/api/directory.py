"""`GET /v1/directory`: the account's extensions (users, call queues, IVR menus, ...) with their
names and numbers, as last synced from RingCentral, so ids in outcomes can be turned into names."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers import DirectoryEntry
from service.api.deps import ERROR_RESPONSES, read_connection
from service.ringcentral import queries

router = APIRouter(tags=["directory"])

KIND_PATTERN = r"^[A-Za-z]{1,40}$"  # RingCentral's extension types are single words


class DirectoryEntryOut(BaseModel):
    extension_id: str = Field(description="RingCentral extension id (as in outcomes and legs).")
    extension_number: str | None = Field(description="The short number people dial, e.g. 101.")
    name: str | None
    display_name: str | None = Field(
        description='How outcomes name it: "Alice Adams (101)", the name alone, or "ext 101".'
    )
    kind: str | None = Field(
        description="RingCentral's extension type: `User`, `Department` (a call queue), "
        "`IvrMenu`, `Announcement`, `Voicemail`, `ParkLocation`, ..."
    )
    synced_at: datetime = Field(description="When this entry was last read from RingCentral.")


class DirectoryList(BaseModel):
    entries: list[DirectoryEntryOut] = Field(description="By extension number.")


@router.get(
    "/directory",
    response_model=DirectoryList,
    responses=ERROR_RESPONSES,
    summary="The account's extensions with names, numbers and kinds",
)
async def list_directory(
    connection: Annotated[AsyncConnection, Depends(read_connection)],
    kind: Annotated[
        list[Annotated[str, StringConstraints(pattern=KIND_PATTERN)]] | None,
        Query(description="Only these kinds (case-insensitive), e.g. `Department`, `IvrMenu`."),
    ] = None,
) -> DirectoryList:
    """Every extension of the account that the directory sync has read (every
    `CALLSIFT_DIRECTORY_REFRESH_S`, and when the service starts): empty until the first sync."""
    wanted = {value.lower() for value in kind} if kind else None
    rows = await queries.directory(connection)
    return DirectoryList(
        entries=[_out(row) for row in rows if wanted is None or (row.kind or "").lower() in wanted]
    )


def _out(row: queries.DirectoryRow) -> DirectoryEntryOut:
    entry = DirectoryEntry(row.kind or "Other", row.name, row.extension_number)
    return DirectoryEntryOut(
        extension_id=row.extension_id,
        extension_number=row.extension_number,
        name=row.name,
        display_name=entry.display_name,
        kind=row.kind,
        synced_at=row.synced_at,
    )
