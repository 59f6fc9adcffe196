"""`POST /webhooks/ringcentral` as a plain ASGI endpoint (docs/api.md, docs/scaling.md).

The hot path: check the content type and that the token is one of ours (before reading the body),
read the body while counting bytes, parse the few fields we store, match the token to the
envelope's subscription, hand the row to the group-commit writer and answer 200 only after the
commit. No validation framework, no ORM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from starlette.types import Receive, Scope, Send

from service.metrics import Metrics
from service.webhooks.envelope import (
    SUBSCRIPTION_ID_LENGTH,
    EnvelopeError,
    loads,
    read_envelope,
    storable_or_none,
    subscription_id_of,
)
from service.webhooks.verification import KnownToken, TokenVerifier, Verdict
from service.webhooks.writer import GroupCommitWriter, StoreUnavailable

log = structlog.get_logger(__name__)

MAX_VALIDATION_TOKEN_BYTES = 512
JSON_HEADERS = [(b"content-type", b"application/json")]
# RingCentral's handshake has an empty body; more than this with a token we do not know is refused
MAX_HANDSHAKE_BODY_BYTES = 1024


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


@dataclass(slots=True)  # not frozen: built for every request, and frozen init costs ~1 us
class _Headers:
    content_type: bytes | None
    content_length: bytes | None
    verification_token: bytes | None
    validation_token: bytes | None

    @classmethod
    def of(cls, scope: Scope) -> _Headers:
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in (
                b"content-type",
                b"content-length",
                b"verification-token",
                b"validation-token",
            ):
                found.setdefault(name, value)
        return cls(
            found.get(b"content-type"),
            found.get(b"content-length"),
            found.get(b"verification-token"),
            found.get(b"validation-token"),
        )


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or media_type.endswith(b"+json")


async def _send(
    send: Send, status: int, body: bytes = b"", headers: list[Any] | None = None
) -> None:
    all_headers = [*(headers or []), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def _send_ok(send: Send) -> None:
    """The notification answer: 200 with an empty body."""
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
    await send(start)
    await send({"type": "http.response.body", "body": b""})


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    await _send(send, status, body, JSON_HEADERS)


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class WebhookEndpoint:
    """The ASGI callable mounted at `/webhooks/ringcentral` (POST only)."""

    def __init__(
        self,
        *,
        writer: GroupCommitWriter,
        verifier: TokenVerifier,
        metrics: Metrics,
        max_body_bytes: int,
    ) -> None:
        self._writer = writer
        self._verifier = verifier
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._received: dict[str, Any] = {}  # kind -> its events_received counter child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _Headers.of(scope)
        # RingCentral's subscription handshake: a POST carrying only Validation-Token, no body.
        may_be_handshake = (
            headers.validation_token is not None and headers.verification_token is None
        )
        if not may_be_handshake and not _is_json(headers.content_type):
            await self._unsupported_media_type(send)
            return
        token = headers.verification_token or headers.validation_token
        if not token:
            self._reject("missing_token")
            await _send_error(send, 403, "forbidden", "Verification-Token header is required")
            return
        if _declared_length(headers) > self._max_body_bytes:
            await self._too_large(send, self._max_body_bytes)
            return
        if may_be_handshake:
            # RingCentral chose this token, not us: only the empty body of a handshake is read
            # without a token we know (a Validation-Token alone with a body is looked up after)
            body = await self._read(receive, send, MAX_HANDSHAKE_BODY_BYTES)
            if body is None:
                return
            if not body.strip():
                await self._handshake(token, send)
                return
            known = await self._verifier.recognise(token)
        else:
            # checked before the body is read: a sender without one of our tokens costs nothing
            known = await self._verifier.recognise(token)
            body = b"" if known is None else await self._read(receive, send, self._max_body_bytes)
            if body is None:
                return
        if known is None:
            await self._refuse(Verdict(False, None, "unknown_token"), send)
            return
        if not _is_json(headers.content_type):
            await self._unsupported_media_type(send)
            return
        await self._notification(body, known, headers.content_type, send)

    async def _read(self, receive: Receive, send: Send, limit: int) -> bytes | None:
        """The body; None if it was too large (answered 413) or the client went away."""
        try:
            return await _read_body(receive, limit)
        except _BodyTooLarge:
            await self._too_large(send, limit)
        except _ClientGone:
            pass
        return None

    async def _handshake(self, validation_token: bytes, send: Send) -> None:
        if len(validation_token) > MAX_VALIDATION_TOKEN_BYTES:
            await _send_error(send, 400, "bad_request", "Validation-Token header is too long")
            return
        await _send(send, 200, b"", [(b"validation-token", validation_token), *JSON_HEADERS])

    async def _notification(
        self, body: bytes, known: KnownToken, content_type: bytes | None, send: Send
    ) -> None:
        received_at = datetime.now(UTC)
        try:
            document = loads(body)
        except EnvelopeError as exc:
            verdict = known.verdict(None)
            await self._quarantine_or_refuse(
                verdict, body, content_type, str(exc), received_at, send
            )
            return
        verdict = known.verdict(subscription_id_of(document))
        if not verdict.accepted:
            await self._refuse(verdict, send)
            return
        try:
            envelope = read_envelope(document)
        except EnvelopeError as exc:
            await self._quarantine_or_refuse(
                verdict, body, content_type, str(exc), received_at, send
            )
            return
        row = envelope.row(payload=body.decode(), received_at=received_at)
        kind = envelope.kind
        # Waiting for the commit takes milliseconds, long enough for the garbage collector to
        # promote whatever this frame holds; the parsed document is a dozen containers that
        # would then cost full collections (tens of ms each) to free. Drop them first.
        del document, envelope, verdict
        try:
            is_new = await self._writer.store_event(row)
        except StoreUnavailable as exc:
            await _send_error(send, 503, "store_unavailable", str(exc))
            return
        if is_new:
            counter = self._received.get(kind)
            if counter is None:
                counter = self._received[kind] = self._metrics.events_received.labels(kind)
            counter.inc()
        await _send_ok(send)

    async def _quarantine_or_refuse(
        self,
        verdict: Verdict,
        body: bytes,
        content_type: bytes | None,
        error: str,
        received_at: datetime,
        send: Send,
    ) -> None:
        if not verdict.accepted:
            await self._refuse(verdict, send)
            return
        row = {
            "received_at": received_at,
            "subscription_id": storable_or_none(verdict.subscription_id, SUBSCRIPTION_ID_LENGTH),
            "content_type": storable_or_none(
                content_type.decode("latin-1")[:255] if content_type else None, 255
            ),
            "error": error.replace("\x00", "\\0"),
            "payload": body,
        }
        try:
            await self._writer.store_quarantined(row)
        except StoreUnavailable as exc:
            await _send_error(send, 503, "store_unavailable", str(exc))
            return
        log.info("webhook.quarantined", subscription_id=verdict.subscription_id, error=error)
        await _send(send, 200)

    async def _refuse(self, verdict: Verdict, send: Send) -> None:
        self._reject(verdict.reason)
        log.info("webhook.refused", reason=verdict.reason, subscription_id=verdict.subscription_id)
        message = "Verification-Token does not match the subscription"
        await _send_error(send, 403, "forbidden", message)

    def _reject(self, reason: str) -> None:
        self._metrics.webhook_rejected.labels(reason).inc()

    async def _too_large(self, send: Send, limit: int) -> None:
        self._reject("too_large")
        message = f"body exceeds max_body_bytes ({limit} bytes)"
        if limit != self._max_body_bytes:
            message = f"a body without a known Verification-Token exceeds {limit} bytes"
        await _send_error(send, 413, "payload_too_large", message)

    async def _unsupported_media_type(self, send: Send) -> None:
        self._reject("unsupported_media_type")
        await _send_error(
            send, 415, "unsupported_media_type", "Content-Type must be application/json"
        )


def _declared_length(headers: _Headers) -> int:
    if headers.content_length is None:
        return 0
    try:
        return int(headers.content_length)
    except ValueError:
        return 0
