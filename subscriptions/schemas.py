"""Pydantic models of the RingCentral REST payloads the subscriptions side reads and sends:
OAuth token responses, subscriptions, the extension directory, call-log pages and error bodies.

(Notification payloads live in `classifiers.payloads`; no model is declared twice.)
Models keep unknown fields and accept RingCentral's camelCase; enumerations stay strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )


class TokenInfo(BaseModel):
    """`POST /restapi/oauth/token` response (snake_case on the wire)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    access_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 (a token kind, not a secret)
    scope: str | None = None
    refresh_token: str | None = None
    refresh_token_expires_in: int | None = None
    owner_id: str | None = None
    endpoint_id: str | None = None
    session_id: str | None = None


class BlacklistedData(_CamelModel):
    blacklisted_at: datetime | None = None
    reason: str | None = None


class DeliveryMode(_CamelModel):
    transport_type: str | None = None
    address: str | None = None
    encryption: bool | None = None


class SubscriptionInfo(_CamelModel):
    """A webhook subscription as RingCentral reports it."""

    id: str
    status: str
    event_filters: list[str] = []
    expiration_time: datetime | None = None
    expires_in: int | None = None
    creation_time: datetime | None = None
    uri: str | None = None
    delivery_mode: DeliveryMode | None = None
    blacklisted_data: BlacklistedData | None = None
    disabled_filters: list[dict[str, Any]] | None = None

    @property
    def is_blacklisted(self) -> bool:
        return self.status.lower() == "blacklisted"


class SubscriptionList(_CamelModel):
    records: list[SubscriptionInfo] = []


class ExtensionRecord(_CamelModel):
    """One record of `GET /restapi/v1.0/account/~/extension` (the spec types `id` as an integer;
    it is kept as a string like every other RingCentral id)."""

    id: Annotated[str, BeforeValidator(str)]
    name: str | None = None
    extension_number: str | None = None
    type: str | None = None
    status: str | None = None


class Paging(_CamelModel):
    page: int | None = None
    total_pages: int | None = None
    per_page: int | None = None
    page_start: int | None = None
    page_end: int | None = None
    total_elements: int | None = None


class ExtensionList(_CamelModel):
    records: list[ExtensionRecord] = []
    paging: Paging | None = None
    navigation: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CallLogPage:
    """One page of `GET .../call-log`.

    `records` are the decoded JSON objects exactly as RingCentral sent them: the store keeps them
    and the classifier reads them, so nothing in them is re-modelled or left out. Records that
    are not objects or have no string `id` are dropped and counted in `malformed`.
    `next_page_uri` is `navigation.nextPage.uri`, None on the last page.
    """

    records: list[dict[str, Any]]
    next_page_uri: str | None = None
    paging: Paging | None = None
    malformed: int = 0


class ErrorItem(_CamelModel):
    error_code: str | None = None
    message: str | None = None
    parameter_name: str | None = None


class ErrorBody(BaseModel):
    """Both RingCentral error shapes: OAuth (`error`, `error_description`, `errors`) and REST
    (`errorCode`, `message`, `errors`)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    error: str | None = None
    error_description: str | None = None
    error_code: str | None = Field(default=None, alias="errorCode")
    message: str | None = None
    errors: list[ErrorItem] = []

    @property
    def code(self) -> str | None:
        """The most specific error code given (`OAU-210`, `SUB-505`, ...)."""
        for item in self.errors:
            if item.error_code:
                return item.error_code
        return self.error_code

    @property
    def text(self) -> str:
        for candidate in (self.error_description, self.message):
            if candidate:
                return candidate
        for item in self.errors:
            if item.message:
                return item.message
        return self.error or ""
