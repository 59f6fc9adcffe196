"""Query parameters shared by several routes, with their OpenAPI descriptions and checks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BeforeValidator

from classifiers.outcome import Category, Direction, Reconciliation, Source, Stage
from service.api import bounds
from service.api.queries import CallFilters
from service.errors import ApiError


def iso_time(value: object) -> object:
    """A time parameter read as ISO 8601 only. pydantic would also take a number as seconds (or
    milliseconds) since 1970, and `from=20260310` as a day in August 1970."""
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        msg = "must be an ISO 8601 time such as 2026-03-02T00:00:00Z"
        raise ValueError(msg) from None


IsoTime = Annotated[datetime, BeforeValidator(iso_time)]
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso_date(value: object) -> object:
    """A date parameter read as `YYYY-MM-DD` only (not a number, nor ISO's basic `YYYYMMDD`)."""
    if not isinstance(value, str):
        return value
    try:
        if ISO_DATE.match(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    msg = "must be a date such as 2026-03-10 (YYYY-MM-DD)"
    raise ValueError(msg)


IsoDate = Annotated[date, BeforeValidator(iso_date)]

TimeFrom = Annotated[
    IsoTime | None,
    Query(
        alias="from",
        description="Only calls that started at or after this time (ISO 8601; no zone = UTC).",
        examples=["2026-03-02T00:00:00Z"],
    ),
]
TimeTo = Annotated[
    IsoTime | None,
    Query(
        alias="to",
        description="Only calls that started before this time (ISO 8601; no zone = UTC).",
        examples=["2026-03-03T00:00:00Z"],
    ),
]


def invalid(parameter: str, message: str) -> ApiError:
    return ApiError(422, "invalid_parameter", f"{parameter}: {message}", parameter=parameter)


def parse_zone(name: str) -> ZoneInfo:
    """The `tz` parameter as a time zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        message = f"unknown time zone {name!r}; use an IANA name such as Europe/Paris"
        raise invalid("tz", message) from exc


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (a time given without a zone is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def api_time(moment: datetime, parameter: str) -> datetime:
    """A time parameter in UTC, refused (422) outside the accepted range (`service.api.bounds`)."""
    try:
        converted = utc(moment)
    except OverflowError:
        converted = None
    if converted is None or not bounds.within(converted):
        raise invalid(parameter, f"must be {bounds.DESCRIBED}")
    return converted


async def reject_nul(request: Request) -> None:
    """No parameter or path segment may hold a NUL character: no stored value does, and
    PostgreSQL refuses it in a query."""
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise invalid(name.replace("\x00", ""), "must not contain a NUL character")
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise invalid(name, "must not contain a NUL character")


async def reject_unknown_parameters(request: Request) -> None:
    """A query parameter the route does not take is refused (it would otherwise be ignored, and
    a misspelt filter would silently return every call)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _allowed_parameters(route)
    for name in request.query_params:
        if name not in allowed:
            takes = ", ".join(sorted(allowed)) or "no parameters"
            raise invalid(name, f"unknown parameter; this route takes: {takes}")


_ALLOWED: dict[tuple[str, frozenset[str]], frozenset[str]] = {}


def _allowed_parameters(route: APIRoute) -> frozenset[str]:
    key = (route.path, frozenset(route.methods or ()))
    allowed = _ALLOWED.get(key)
    if allowed is None:
        allowed = _ALLOWED[key] = _query_names(route.dependant)
    return allowed


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route (its dependencies included) declares."""
    names = {parameter.alias for parameter in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return frozenset(names)


def caller_number(value: str) -> str:
    """A phone number as stored (E.164): only its digits, a leading 00 read as +, and a + in
    front (the parameter's pattern admits digits, spaces, dashes, dots, brackets and a +)."""
    digits = re.sub(r"\D", "", value)
    if digits.startswith("00"):
        digits = digits[2:]
    return "+" + digits


def check_order(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise invalid("from", "must be before `to`")


def call_filters(
    started_from: TimeFrom = None,
    started_to: TimeTo = None,
    extension_id: Annotated[
        str | None,
        Query(
            description="Only calls in which this extension had a leg (rang, answered, ...).",
            examples=["300401016"],
            max_length=32,
        ),
    ] = None,
    category: Annotated[
        list[Category] | None,
        Query(
            description="Only these categories; repeat the parameter for several.",
            examples=[["abandoned_queue", "short_abandon"]],
        ),
    ] = None,
    direction: Annotated[
        Direction | None, Query(description="`inbound`, `outbound` or `internal`.")
    ] = None,
    queue: Annotated[
        str | None,
        Query(
            description="Only calls handled by this call queue (its name, in any case).",
            max_length=255,
        ),
    ] = None,
    reason: Annotated[
        str | None,
        Query(
            description="Only calls with this sub-reason (exact), e.g. `ring_timeout`, or "
            "`classification_failed` for calls the classifier failed on.",
            max_length=64,
        ),
    ] = None,
    is_abandoned: Annotated[
        bool | None, Query(description="true: abandoned calls only; false: the others.")
    ] = None,
    source: Annotated[
        list[Source] | None,
        Query(
            description="Only calls with data from this source (`webhook`, `call_log`); "
            "repeat it for calls with both.",
            examples=[["call_log"]],
        ),
    ] = None,
    from_number: Annotated[
        str | None,
        Query(
            description="Only calls from this caller number (E.164; spaces, dashes and brackets "
            "are ignored, so `+1 (415) 555-0123` finds `+14155550123`).",
            examples=["+14155550123"],
            max_length=64,
            pattern=r"^\+?[0-9 ().\-]*[0-9][0-9 ().\-]*$",
        ),
    ] = None,
    stage: Annotated[
        Stage | None,
        Query(description="Only calls that ended (or are) at this stage."),
    ] = None,
    final: Annotated[
        bool | None,
        Query(description="true: calls that have ended; false: calls still in progress."),
    ] = None,
    reconciliation: Annotated[
        list[Reconciliation] | None,
        Query(
            description="Only calls whose sources agreed this way; repeat for several.",
            examples=[["call_log_corrected", "call_log_only"]],
        ),
    ] = None,
) -> CallFilters:
    """The filters of /v1/calls and /v1/calls.csv."""
    categories, sources = _values(category), _values(source)
    reconciliations = _values(reconciliation)
    start = api_time(started_from, "from") if started_from else None
    end = api_time(started_to, "to") if started_to else None
    check_order(start, end)
    return CallFilters(
        started_from=start,
        started_to=end,
        extension_id=extension_id,
        categories=categories,
        direction=direction.value if direction else None,
        queue=queue,
        reason=reason,
        is_abandoned=is_abandoned,
        sources=sources,
        reconciliations=reconciliations,
        from_number=caller_number(from_number) if from_number is not None else None,
        stage=stage.value if stage is not None else None,
        final=final,
    )


def _values(chosen: Sequence[StrEnum] | None) -> tuple[str, ...]:
    """The chosen values, each once, in the order given."""
    return tuple(dict.fromkeys(value.value for value in chosen or ()))
