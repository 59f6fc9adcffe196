"""SQL of the API-key area. The caller owns the connection and its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.apikeys.keys import NewKey
from service.db.tables import api_keys


@dataclass(frozen=True, slots=True)
class StoredKey:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class ActiveKey:
    id: int
    digest: str
    last_used_at: datetime | None


async def insert_key(connection: AsyncConnection, *, name: str, key: NewKey, now: datetime) -> int:
    result = await connection.execute(
        insert(api_keys)
        .values(name=name, prefix=key.prefix, key_hash=key.digest, created_at=now)
        .returning(api_keys.c.id)
    )
    return int(result.scalar_one())


async def list_keys(connection: AsyncConnection) -> list[StoredKey]:
    result = await connection.execute(
        select(
            api_keys.c.id,
            api_keys.c.name,
            api_keys.c.prefix,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
            api_keys.c.last_used_at,
        ).order_by(api_keys.c.id)
    )
    return [StoredKey(*row) for row in result]


async def revoke_key(connection: AsyncConnection, key_id: int, now: datetime) -> bool:
    """Revoke a key that is not revoked yet; False when there is no such active key."""
    result = await connection.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(api_keys.c.id)
    )
    return result.scalar_one_or_none() is not None


async def find_active(connection: AsyncConnection, digest: str) -> ActiveKey | None:
    """The unrevoked key with this digest (an indexed lookup on the unique digest)."""
    result = await connection.execute(
        select(api_keys.c.id, api_keys.c.key_hash, api_keys.c.last_used_at).where(
            api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
        )
    )
    row = result.first()
    return ActiveKey(*row) if row is not None else None


async def record_use(connection: AsyncConnection, key_id: int, now: datetime) -> None:
    await connection.execute(
        update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now)
    )
