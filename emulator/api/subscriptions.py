"""`/restapi/v1.0/subscription`: create (with the validation handshake), list, get, update, renew,
delete. Create/update/delete are Medium, list/get/renew Light."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from emulator.api.common import authorize, base_of, emulator_of, json_body, respond
from emulator.config import RateGroup
from emulator.delivery import validation_handshake

router = APIRouter(tags=["subscriptions"])
log = structlog.get_logger(__name__)
PATH = "/restapi/v1.0/subscription"


@router.post(PATH)
async def create_subscription(request: Request) -> Response:
    context = authorize(request, RateGroup.MEDIUM, "SubscriptionWebhook")
    emulator = emulator_of(request)
    account = emulator.directory.account(context.extension.account_id)
    parsed = emulator.subscriptions.parse_create(
        await json_body(request), account=account, extension_id=context.extension.id
    )
    emulator.subscriptions.check_limit(context.extension.id, context.app.client_id, emulator.now())
    await validation_handshake(
        emulator.poster, parsed.address, emulator.ids.uuid4(), emulator.config.validation_timeout_s
    )
    subscription = emulator.subscriptions.create(
        parsed, account_id=account.id, extension_id=context.extension.id,
        client_id=context.app.client_id, now=emulator.now(),
    )  # fmt: skip
    log.info(
        "emulator.subscription_created", subscription_id=subscription.id, owner=context.extension.id
    )
    return respond(request, subscription.info(base_of(request), emulator.now()))


@router.get(PATH)
async def list_subscriptions(request: Request) -> Response:
    context = authorize(request, RateGroup.LIGHT)
    emulator = emulator_of(request)
    now, base = emulator.now(), base_of(request)
    owned = emulator.subscriptions.owned(context.extension.id, context.app.client_id, now)
    return respond(request, {"uri": f"{base}{PATH}", "records": [s.info(base, now) for s in owned]})


@router.get(PATH + "/{subscription_id}")
async def read_subscription(request: Request, subscription_id: str) -> Response:
    context = authorize(request, RateGroup.LIGHT)
    emulator = emulator_of(request)
    now = emulator.now()
    found = emulator.subscriptions.get_owned(
        subscription_id, context.extension.id, context.app.client_id, now
    )
    return respond(request, found.info(base_of(request), now))


@router.put(PATH + "/{subscription_id}")
async def update_subscription(request: Request, subscription_id: str) -> Response:
    context = authorize(request, RateGroup.MEDIUM)
    emulator = emulator_of(request)
    now = emulator.now()
    found = emulator.subscriptions.get_owned(
        subscription_id, context.extension.id, context.app.client_id, now
    )
    account = emulator.directory.account(found.account_id)
    body = await json_body(request, allow_empty=True)
    emulator.subscriptions.update(found, body, account, now)
    return respond(request, found.info(base_of(request), now))


@router.post(PATH + "/{subscription_id}/renew")
async def renew_subscription(request: Request, subscription_id: str) -> Response:
    context = authorize(request, RateGroup.LIGHT)
    emulator = emulator_of(request)
    now = emulator.now()
    found = emulator.subscriptions.get_owned(
        subscription_id, context.extension.id, context.app.client_id, now
    )
    emulator.subscriptions.renew(found, now)
    return respond(request, found.info(base_of(request), now))


@router.delete(PATH + "/{subscription_id}")
async def delete_subscription(request: Request, subscription_id: str) -> Response:
    context = authorize(request, RateGroup.MEDIUM)
    emulator = emulator_of(request)
    found = emulator.subscriptions.get_owned(
        subscription_id, context.extension.id, context.app.client_id, emulator.now()
    )
    emulator.subscriptions.delete(found)
    return respond(request, None, status=204)
