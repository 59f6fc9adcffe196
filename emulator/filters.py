"""Subscription event filters: parsing, `~` expansion, validation and matching.

Supported filters (DOC:notifications/event-filters/*):
- `/restapi/v1.0/account/{acc}/telephony/sessions[?...]`: every party of the account;
- `/restapi/v1.0/account/{acc}/extension/{ext}/telephony/sessions[?...]`: that extension's parties;
  query parameters `direction`, `missedCall`, `statusCode`, `phoneNumber`, `sipData`,
  `withRecordings` (the last two are accepted and have no effect here);
- `/restapi/v1.0/account/{acc}/extension/{ext}/voicemail`: new voicemail messages of that mailbox;
- `/restapi/v1.0/subscription/~?threshold=N&interval=M`: renewal reminders (validated later,
  against the subscription's lifetime: SUB-516).
The `/restapi/v1.0` prefix may be omitted; `~` means the token's account or extension.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from emulator.directory import Account
from emulator.errors import RCError, api_error

STATUS_CODES = frozenset(
    {"Setup", "Proceeding", "Answered", "Disconnected", "Gone", "Parked", "Hold", "VoiceMail",
     "FaxReceive", "VoiceMailScreening"}
)  # fmt: skip
_TELEPHONY = re.compile(r"^/account/([^/]+)(?:/extension/([^/]+))?/telephony/sessions$")
_VOICEMAIL = re.compile(r"^/account/([^/]+)/extension/([^/]+)/voicemail$")
_BOOLEANS = {"true": True, "false": False}
PREFIX = "/restapi/v1.0"


@dataclass(frozen=True, slots=True)
class TelephonyFilter:
    raw: str
    expanded: str
    account_id: str
    extension_id: str | None  # None: account-level
    direction: str | None = None
    missed_call: bool | None = None
    status_code: str | None = None
    phone_number: str | None = None

    def sees(self, account_id: str, party: Mapping[str, Any]) -> bool:
        if account_id != self.account_id:
            return False
        if self.extension_id is not None and party.get("extensionId") != self.extension_id:
            return False
        if self.direction is not None and party.get("direction") != self.direction:
            return False
        if self.missed_call is not None and bool(party.get("missedCall")) != self.missed_call:
            return False
        status = party.get("status") or {}
        if self.status_code is not None and status.get("code") != self.status_code:
            return False
        if self.phone_number is not None:
            numbers = {(party.get(side) or {}).get("phoneNumber") for side in ("from", "to")}
            if self.phone_number not in numbers:
                return False
        return True


@dataclass(frozen=True, slots=True)
class VoicemailFilter:
    raw: str
    expanded: str
    account_id: str
    extension_id: str


@dataclass(frozen=True, slots=True)
class ReminderFilter:
    raw: str
    threshold: int | None
    interval: int | None

    @property
    def expanded(self) -> str:
        return self.raw


EventFilter = TelephonyFilter | VoicemailFilter | ReminderFilter


def invalid_filters(filters: list[str]) -> RCError:
    return api_error(400, "SUB-508", f"Invalid event filters: [{', '.join(filters)}]")


def parse_filter(raw: str, *, account: Account, extension_id: str) -> EventFilter:
    """Parse one filter for a subscriber (its account and extension); raise SUB-508/SUB-406."""
    path, _, query = raw.partition("?")
    if path.startswith(PREFIX):
        path = path[len(PREFIX) :]
    params = parse_qsl(query, keep_blank_values=True)
    if path == "/subscription/~":
        return _reminder(raw, params)
    if match := _TELEPHONY.match(path):
        acc = _account(match.group(1), account, raw)
        ext = _extension(match.group(2), account, extension_id, raw) if match.group(2) else None
        return _telephony(raw, acc, ext, params)
    if (match := _VOICEMAIL.match(path)) and not params:
        acc = _account(match.group(1), account, raw)
        ext = _extension(match.group(2), account, extension_id, raw)
        return VoicemailFilter(raw, f"{PREFIX}/account/{acc}/extension/{ext}/voicemail", acc, ext)
    raise invalid_filters([raw])


def _account(value: str, account: Account, raw: str) -> str:
    if value in ("~", account.id):
        return account.id
    if value.isdigit():
        raise api_error(
            403, "SUB-406", "Not allowed subscribe for events to extensions of other account"
        )
    raise invalid_filters([raw])


def _extension(value: str, account: Account, own: str, raw: str) -> str:
    if value == "~":
        return own
    if value in account.extensions:
        return value
    raise invalid_filters([raw])


def _telephony(
    raw: str, account_id: str, extension_id: str | None, params: list[tuple[str, str]]
) -> TelephonyFilter:
    values: dict[str, Any] = {}
    for name, value in params:
        if name == "direction" and value in ("Inbound", "Outbound"):
            values["direction"] = value
        elif name == "missedCall" and value in _BOOLEANS:
            values["missed_call"] = _BOOLEANS[value]
        elif name == "statusCode" and value in STATUS_CODES:
            values["status_code"] = value
        elif name == "phoneNumber" and value.startswith("+") and value[1:].isdigit():
            values["phone_number"] = value
        elif name in ("sipData", "withRecordings") and value in _BOOLEANS:
            continue
        else:
            raise invalid_filters([raw])
    path = f"{PREFIX}/account/{account_id}"
    if extension_id is not None:
        path += f"/extension/{extension_id}"
    expanded = f"{path}/telephony/sessions" + (f"?{urlencode(params)}" if params else "")
    return TelephonyFilter(raw, expanded, account_id, extension_id, **values)


def _reminder(raw: str, params: list[tuple[str, str]]) -> ReminderFilter:
    values = dict(params)
    if set(values) - {"threshold", "interval"}:
        raise invalid_filters([raw])
    return ReminderFilter(
        raw, _positive(values.get("threshold")), _positive(values.get("interval"))
    )


def _positive(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and int(value) > 0 else None


def check_reminder(reminder: ReminderFilter, ttl_s: int, job_period_s: int) -> None:
    """SUB-516 unless job period <= threshold <= ttl/2 and job period <= interval <= threshold/2."""
    threshold, interval = reminder.threshold, reminder.interval
    valid = (
        threshold is not None
        and interval is not None
        and job_period_s <= threshold <= ttl_s / 2
        and job_period_s <= interval <= threshold / 2
    )
    if not valid:
        raise api_error(400, "SUB-516", "Invalid reminder parameters")
