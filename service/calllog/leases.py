"""The credentials one call-log pass holds, and their leases kept alive while it runs.

A pass leases every credential it claims for LEASE and renews the leases it still holds every
RENEW_EVERY_S, so a long backfill keeps its credentials however long it takes, and a replica
(or processor process) killed in the middle of a sync holds them no longer than LEASE: the
restarted process, or another replica, takes them up then. Renewal is a compare-and-set on
`lease_until`, the value this pass last wrote: a lease that expired (the pass stalled) and
another replica took is left to that replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from service.calllog import queries

log = structlog.get_logger(__name__)

LEASE = timedelta(minutes=2)
RENEW_EVERY_S = 30.0


class HeldLeases:
    def __init__(
        self,
        engine: AsyncEngine,
        extension_ids: Iterable[str],
        *,
        leased_until: datetime,
        clock: Callable[[], datetime],
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._held = dict.fromkeys(extension_ids, leased_until)

    @property
    def held(self) -> dict[str, datetime]:
        return dict(self._held)

    def release(self, extension_id: str) -> None:
        """This credential's sync is over (its pass released the lease in the database)."""
        self._held.pop(extension_id, None)

    async def renew(self) -> None:
        if not self._held:
            return
        asked = dict(self._held)
        until = self._clock() + LEASE
        async with self._engine.begin() as connection:
            renewed = await queries.renew_leases(connection, asked, until=until)
        for extension_id in asked:
            if extension_id not in self._held:
                continue  # released meanwhile
            if extension_id in renewed:
                self._held[extension_id] = until
            else:  # its sync released it a moment ago, or it ran out and another replica took it
                self._held.pop(extension_id)
                log.info("calllog.lease_not_renewed", extension_id=extension_id)

    async def keep(self, every_s: float = RENEW_EVERY_S) -> None:
        """Renew every `every_s` until cancelled; a failed renewal is logged and tried again."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.renew()
            except Exception as exc:  # the database is away: the next renewal may reach it
                log.warning("calllog.lease_renewal_failed", error=repr(exc))
