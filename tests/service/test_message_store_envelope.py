"""Message-store notifications at the webhook: one that counts a new voicemail is stored as
voicemail evidence (mailbox, time), any other change is an event of no kind we classify."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from classifiers.evidence import voicemail_evidence
from service.webhooks.envelope import read_envelope


def _store(changes: list[dict[str, Any]], event_extension: str = "406149828004") -> dict[str, Any]:
    return {
        "uuid": "b11c9430-9687-4498-b12b-3fcb470bfe04",
        "event": f"/restapi/v1.0/account/~/extension/{event_extension}/message-store",
        "ownerId": "406149828004",
        "subscriptionId": "9d38419f-645f-4ee3-a053-8cf1368c21c4",
        "timestamp": "2026-04-29T14:29:27.408Z",
        "body": {
            "extensionId": "406149828004",
            "lastUpdated": "2026-04-29T14:29:20.531+0000",
            "changes": changes,
        },
    }


def test_a_new_voicemail_is_stored_as_voicemail_evidence() -> None:
    envelope = read_envelope(_store([{"type": "VoiceMail", "newCount": 1}], event_extension="~"))
    assert (envelope.kind, envelope.extension_id) == ("voicemail", "406149828004")
    assert envelope.event_time == datetime(2026, 4, 29, 14, 29, 20, 531000, tzinfo=UTC)
    [owned] = voicemail_evidence(_store([{"type": "VoiceMail", "newCount": 1}]))
    assert owned.extension_id == "406149828004"
    assert owned.message.creation_time == envelope.event_time
    assert owned.message.vm_duration_s is None


@pytest.mark.parametrize(
    "changes",
    [
        [{"type": "VoiceMail", "updatedCount": 1}],  # a message read or deleted, none new
        [{"type": "SMS", "newCount": 2}],
        [],
    ],
)
def test_other_message_store_changes_are_no_voicemail(changes: list[dict[str, Any]]) -> None:
    assert read_envelope(_store(changes)).kind == "other"
    assert voicemail_evidence(_store(changes)) == []
