"""The extension directory: `GET /restapi/v1.0/account/{a}/extension` (list, paged) and
`GET /restapi/v1.0/account/{a}/extension/{e}` (one extension). Groups as in the spec: the list is
Medium, one extension Light; both need ReadAccounts."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from emulator.api.common import account_of, authorize, base_of, extension_of, query_lists, respond
from emulator.config import RateGroup
from emulator.directory import Extension
from emulator.errors import invalid_parameter

router = APIRouter(tags=["accounts"])
MAX_PER_PAGE = 1000


def extension_record(base: str, extension: Extension) -> dict[str, Any]:
    record: dict[str, Any] = {
        "uri": f"{base}/restapi/v1.0/account/{extension.account_id}/extension/{extension.id}",
        "id": int(extension.id),
        "extensionNumber": extension.extension_number,
        "name": extension.name,
        "type": extension.kind,
        "status": extension.status,
        "hidden": False,
    }
    if extension.kind == "User":
        first, _, last = extension.name.partition(" ")
        record["contact"] = {"firstName": first, "lastName": last or first}
    return record


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    value = query.get(name, [None])[0]
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise invalid_parameter(name, value)
    return int(value)


@router.get("/restapi/v1.0/account/{account_id}/extension")
async def list_extensions(request: Request, account_id: str) -> Response:
    context = authorize(request, RateGroup.MEDIUM, "ReadAccounts")
    account = account_of(request, context, account_id)
    base, query = base_of(request), query_lists(request)
    page, per_page = _int(query, "page", 1), min(_int(query, "perPage", 100), MAX_PER_PAGE)
    types, statuses = set(query.get("type", [])), set(query.get("status", []))
    number = query.get("extensionNumber", [None])[0]
    found = [
        e
        for e in account.extensions.values()
        if (not types or e.kind in types)
        and (not statuses or e.status in statuses)
        and (number is None or e.extension_number == number)
    ]
    start = (page - 1) * per_page
    chunk = found[start : start + per_page]
    total_pages = max(1, math.ceil(len(found) / per_page))
    uri = f"{base}/restapi/v1.0/account/{account.id}/extension"
    params = {k: v[0] for k, v in query.items() if k not in ("page", "perPage")}

    def page_uri(n: int) -> dict[str, str]:
        return {"uri": f"{uri}?{urlencode({**params, 'page': n, 'perPage': per_page})}"}

    paging: dict[str, Any] = {
        "page": page, "totalPages": total_pages, "perPage": per_page, "totalElements": len(found),
    }  # fmt: skip
    if chunk:
        paging.update(pageStart=start, pageEnd=start + len(chunk) - 1)
    navigation = {"firstPage": page_uri(1), "lastPage": page_uri(total_pages)}
    if page < total_pages:
        navigation["nextPage"] = page_uri(page + 1)
    if page > 1:
        navigation["previousPage"] = page_uri(page - 1)
    body = {
        "uri": page_uri(page)["uri"],
        "records": [extension_record(base, e) for e in chunk],
        "paging": paging,
        "navigation": navigation,
    }
    return respond(request, body)


@router.get("/restapi/v1.0/account/{account_id}/extension/{extension_id}")
async def read_extension(request: Request, account_id: str, extension_id: str) -> Response:
    context = authorize(request, RateGroup.LIGHT, "ReadAccounts")
    account = account_of(request, context, account_id)
    extension = extension_of(account, context, extension_id)
    base = base_of(request)
    record = extension_record(base, extension)
    record["account"] = {"uri": f"{base}/restapi/v1.0/account/{account.id}", "id": account.id}
    return respond(request, record)
