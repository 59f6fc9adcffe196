"""Offline batches (`callsift classify`): lines in, outcomes and line-numbered errors out."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson
import pytest

from classifiers import Category, DirectoryEntry, classify_lines, load_call_log, load_directory
from tests.classifiers.helpers import CAPTURES, SESSIONS

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _lines(name: str) -> list[bytes]:
    return (SESSIONS / f"{name}.jsonl").read_bytes().splitlines()


def test_bad_lines_are_reported_with_their_line_number_and_skipped() -> None:
    good = _lines("real-csn-ext-to-ext")
    reminder = orjson.dumps(
        {
            "uuid": "r1",
            "event": "/restapi/v1.0/subscription/~?threshold=60&interval=15",
            "timestamp": "2026-05-01T00:00:00Z",
            "subscriptionId": "sub",
            "ownerId": "1",
            "body": {"expiresIn": 58},
        }
    )
    broken_party = orjson.loads(good[0])
    del broken_party["body"]["parties"][0]["id"]
    lines: list[str | bytes] = [
        good[0],
        "",
        "{this is not json",
        "[1, 2, 3]",
        reminder,
        orjson.dumps(broken_party),
        "   ",
        *good[1:],
    ]
    result = classify_lines(lines, now=NOW)
    assert [number for number, _ in result.errors] == [3, 4, 6]
    assert result.errors[0][1].startswith("not JSON")
    assert result.errors[1][1].startswith("not a notification envelope")
    assert "parties.0.id" in result.errors[2][1]
    assert result.lines_read == len(good) + 1  # the reminder was read, and ignored
    (outcome,) = result.outcomes
    assert outcome.category is Category.ANSWERED


def test_sessions_are_grouped_and_ordered_by_start_then_session_id() -> None:
    lines = _lines("real-tylerlong-queue-or-direct")[::-1] + _lines("real-csn-pstn-to-ivr")[::-1]
    result = classify_lines(lines, now=NOW)
    started = [outcome.started_at for outcome in result.outcomes]
    assert len(result.outcomes) == 3
    assert started == sorted(s for s in started if s is not None)


def test_voicemail_lines_become_evidence_for_the_mailbox_in_their_path() -> None:
    lines = _lines("voicemail-left-account")
    without_message = [line for line in lines if b"/voicemail" not in line]
    with_message = classify_lines(lines, now=NOW).outcomes[0]
    by_time_only = classify_lines(without_message, now=NOW).outcomes[0]
    assert "voicemail_message:vm_duration=19" in with_message.evidence
    assert not any(item.startswith("voicemail_message") for item in by_time_only.evidence)


def test_call_log_and_directory_evidence_reach_the_classifier() -> None:
    name = "deflected-callback-account"
    records = load_call_log((SESSIONS / f"{name}.calllog.json").read_bytes())
    with_log = classify_lines(_lines(name), now=NOW, call_log=records).outcomes[0]
    without = classify_lines(_lines(name), now=NOW).outcomes[0]
    assert (with_log.category, with_log.reason) == (Category.DEFLECTED, "callback_requested")
    assert without.category is Category.ABANDONED_QUEUE
    queue = classify_lines(
        _lines("abandoned-ivr-account"),
        now=NOW,
        directory={"300200016": DirectoryEntry("Department", "Main Queue")},
    ).outcomes[0]
    assert (queue.category, queue.queue) == (Category.ABANDONED_QUEUE, "Main Queue")


# --- loaders -----------------------------------------------------------------------------------


def test_call_logs_load_from_arrays_responses_and_json_lines() -> None:
    grokify = load_call_log((CAPTURES / "grokify-devtest-2016.calllog.json").read_bytes())
    active = load_call_log((CAPTURES / "tylerlong-active-calls.calllog.json").read_bytes())
    assert len(grokify) == 6  # two responses (Simple, Detailed) of the same three records
    assert {record.result for record in active} >= {"Accepted", "In Progress"}
    records = [record.model_dump(mode="json", by_alias=True) for record in grokify[:2]]
    as_array = load_call_log(orjson.dumps(records))
    as_response = load_call_log(orjson.dumps({"uri": "x", "records": records}))
    as_lines = load_call_log(b"\n".join(orjson.dumps(record) for record in records) + b"\n")
    assert as_array == as_response == as_lines == grokify[:2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"42", "expected a JSON array or object"),
        (b'{"records": {}}', "`records` is not a list"),
        (b"[1]", "expected record objects"),
        (b'[{"result": "Missed"}]', "call-log record 1: id"),
        (b'{"id": "a"}\n{nope', "call log line 2 is not JSON"),
    ],
)
def test_bad_call_logs_say_what_is_wrong(content: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_call_log(content)


def test_directories_load_from_extension_lists_and_plain_objects() -> None:
    listing = {
        "records": [
            {
                "id": 300300016,
                "extensionNumber": "300",
                "name": "Sales Queue",
                "type": "Department",
            },
            {"id": "300401016", "name": "Alice", "type": "User"},
        ]
    }
    assert load_directory(orjson.dumps(listing)) == {
        "300300016": DirectoryEntry("Department", "Sales Queue"),
        "300401016": DirectoryEntry("User", "Alice"),
    }
    plain = {"300200016": "IvrMenu", "300300016": {"type": "Department", "name": "Q"}}
    assert load_directory(orjson.dumps(plain)) == {
        "300200016": DirectoryEntry("IvrMenu"),
        "300300016": DirectoryEntry("Department", "Q"),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"nope", "directory is not JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"records": [{"name": "x", "type": "User"}]}', "directory record 1 has no `id`"),
        (b'{"records": [{"id": 1}]}', "has no `type`"),
        (b'{"1": 5}', "directory entry '1'"),
    ],
)
def test_bad_directories_say_what_is_wrong(content: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_directory(content)
