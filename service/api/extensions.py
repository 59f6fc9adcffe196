"""`GET /v1/extensions`: the monitored extensions and the health of their RingCentral link."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.deps import ERROR_RESPONSES, read_connection
from service.ringcentral import queries

router = APIRouter(tags=["extensions"])


class ExtensionOut(BaseModel):
    extension_id: str = Field(description="RingCentral extension id.")
    name: str | None = Field(description="Name from the extension directory, once synced.")
    mode: str = Field(description="`extension` (its own view) or `account` (the whole account).")
    credential: str = Field(
        description="`active`, or `credential_invalid` when RingCentral refused the JWT."
    )
    credential_reason: str | None = Field(description="RingCentral's reason for refusing it.")
    access_token_expires_at: datetime | None = Field(description="Refreshed automatically.")
    refresh_token_expires_at: datetime | None
    subscription_id: str | None = Field(description="RingCentral's subscription id, if any.")
    subscription_status: str | None = Field(description="`Active`, or `Blacklisted` until fixed.")
    subscription_expires_at: datetime | None
    last_renewed_at: datetime | None
    last_checked_at: datetime | None = Field(description="Last status check at RingCentral.")
    next_check_at: datetime | None = Field(description="When the loop looks at it next.")
    last_error: str | None = Field(description="Last failure of the subscription loop.")
    last_event_at: datetime | None = Field(description="Last notification received for it.")


class ExtensionList(BaseModel):
    extensions: list[ExtensionOut]


@router.get(
    "/extensions",
    response_model=ExtensionList,
    responses=ERROR_RESPONSES,
    summary="Monitored extensions and their credential and subscription health",
)
async def list_extensions(
    connection: Annotated[AsyncConnection, Depends(read_connection)],
) -> ExtensionList:
    """Every registered extension: is its credential accepted, when do its token and webhook
    subscription expire, when were they last renewed or checked, the last error of the
    subscription loop, and when its last notification arrived. No secrets."""
    rows = await queries.extension_overview(connection)
    return ExtensionList(extensions=[_out(row) for row in rows])


def _out(row: queries.ExtensionHealth) -> ExtensionOut:
    return ExtensionOut(
        extension_id=row.extension_id,
        name=row.name,
        mode=row.mode,
        credential=row.status,
        credential_reason=row.status_reason,
        access_token_expires_at=row.access_expires_at,
        refresh_token_expires_at=row.refresh_expires_at,
        subscription_id=row.subscription_id,
        subscription_status=row.subscription_status,
        subscription_expires_at=row.expires_at,
        last_renewed_at=row.last_renewed_at,
        last_checked_at=row.last_checked_at,
        next_check_at=row.next_due_at,
        last_error=row.last_error,
        last_event_at=row.last_event_at,
    )
