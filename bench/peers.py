"""The servers callsift's webhook is compared with, each served by one uvicorn worker (uvloop,
httptools) exactly like `callsift run`:

- (a) `bare_app`: a plain ASGI callable that reads the body and answers 200 (the ceiling);
- (b) `fastapi_app`: FastAPI answering 200 from a handler that reads the body;
- (c) `orm_app()`: what a typical user writes: FastAPI, `await request.json()`, an SQLAlchemy ORM
  `AsyncSession` from a dependency, one INSERT and one COMMIT per request into a table shaped
  like raw_events, on PostgreSQL (asyncpg; a fixed pool of BENCH_PEER_POOL_SIZE connections,
  default 20).

    uvicorn bench.peers:bare_app ...
    BENCH_PEER_DATABASE_URL=postgresql+asyncpg://... uvicorn --factory bench.peers:orm_app ...
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from sqlalchemy import BigInteger, DateTime, String, Text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.types import Receive, Scope, Send

WEBHOOK_PATH = "/webhooks/ringcentral"


# --- (a) bare ASGI -------------------------------------------------------------------------


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more_body = True
    while more_body:
        message = await receive()
        more_body = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


# --- (b) FastAPI no-op ---------------------------------------------------------------------

fastapi_app = FastAPI()


@fastapi_app.post(WEBHOOK_PATH)
async def noop_webhook(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


@fastapi_app.get("/healthz")
async def noop_health() -> dict[str, str]:
    return {"status": "ok"}


# --- (c) FastAPI + SQLAlchemy ORM, one commit per request ----------------------------------


class Base(DeclarativeBase):
    pass


class WebhookEvent(Base):
    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(128), unique=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subscription_id: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(512))
    telephony_session_id: Mapped[str | None] = mapped_column(String(128), index=True)
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payload: Mapped[str] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


orm_router = APIRouter()


@orm_router.post(WEBHOOK_PATH)
async def orm_webhook(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> Response:
    raw = await request.body()
    notification: dict[str, Any] = await request.json()
    body = notification.get("body") or {}
    event_time = body.get("eventTime")
    session.add(
        WebhookEvent(
            uuid=notification["uuid"],
            received_at=datetime.now(UTC),
            subscription_id=notification.get("subscriptionId"),
            event=notification["event"],
            telephony_session_id=body.get("telephonySessionId"),
            sequence=body.get("sequence"),
            event_time=datetime.fromisoformat(event_time) if event_time else None,
            payload=raw.decode(),
        )
    )
    try:
        await session.commit()
    except IntegrityError:  # a duplicate uuid: already stored
        await session.rollback()
    return Response(status_code=200)


@orm_router.get("/healthz")
async def orm_health() -> dict[str, str]:
    return {"status": "ok"}


def orm_app() -> FastAPI:
    # A fixed pool (no overflow connections opened and closed under load), sized like the
    # anchor measurements; SQLAlchemy's default (5 + 10 overflow) churns connections at 64
    # concurrent requests and runs about 4x slower.
    pool_size = int(os.environ.get("BENCH_PEER_POOL_SIZE", "20"))
    engine = create_async_engine(
        os.environ["BENCH_PEER_DATABASE_URL"], pool_size=pool_size, max_overflow=0
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    app.include_router(orm_router)
    return app
