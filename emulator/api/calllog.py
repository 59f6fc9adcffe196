"""Call log (Heavy group, ReadCallLog): user and company lists, and call-log-sync."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from emulator.api.common import (
    account_of,
    authorize,
    base_of,
    emulator_of,
    extension_of,
    query_lists,
    respond,
)
from emulator.calllog import Scope
from emulator.config import RateGroup

router = APIRouter(tags=["call-log"])
ACCOUNT = "/restapi/v1.0/account/{account_id}"
EXTENSION = ACCOUNT + "/extension/{extension_id}"


def _scope(request: Request, account_id: str, extension_id: str | None) -> Scope:
    context = authorize(request, RateGroup.HEAVY, "ReadCallLog")
    account = account_of(request, context, account_id)
    if extension_id is None:
        return Scope(account.id, None)
    return Scope(account.id, extension_of(account, context, extension_id).id)


async def _list(request: Request, scope: Scope) -> Response:
    emulator = emulator_of(request)
    body = emulator.call_log.list_page(
        scope, query_lists(request), base=base_of(request), now=emulator.now()
    )
    return respond(request, body)


async def _sync(request: Request, scope: Scope) -> Response:
    emulator = emulator_of(request)
    body = emulator.call_log.sync(
        scope, query_lists(request), base=base_of(request), now=emulator.now()
    )
    return respond(request, body)


@router.get(EXTENSION + "/call-log")
async def read_user_call_log(request: Request, account_id: str, extension_id: str) -> Response:
    return await _list(request, _scope(request, account_id, extension_id))


@router.get(ACCOUNT + "/call-log")
async def read_company_call_log(request: Request, account_id: str) -> Response:
    return await _list(request, _scope(request, account_id, None))


@router.get(EXTENSION + "/call-log-sync")
async def sync_user_call_log(request: Request, account_id: str, extension_id: str) -> Response:
    return await _sync(request, _scope(request, account_id, extension_id))


@router.get(ACCOUNT + "/call-log-sync")
async def sync_account_call_log(request: Request, account_id: str) -> Response:
    return await _sync(request, _scope(request, account_id, None))
