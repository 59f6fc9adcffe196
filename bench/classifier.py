"""How many 10-event sessions per second the classifier handles on one core.

    python -m bench.classifier [--sessions N] [--runs 3]
    python bench/classifier.py

Builds N synthetic sessions of exactly 10 telephony events each (a mix of shapes: queue call
answered, IVR then hold hang-up, voicemail, queue abandon, outbound call), then times three
paths with `time.perf_counter` and reports the median of the runs:
- `classify_session` on validated notification models (the public entry point);
- raw stored JSON -> `orjson.loads` -> `party_events_from_envelope` -> `classify_events`
  (what the processor does for every touched session);
- `classify_events` on events already extracted (the rules alone).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from classifiers import (
    PartyEvent,
    classify_events,
    classify_session,
    parse_notification,
    party_events,
    party_events_from_envelope,
)
from classifiers.payloads import TelephonySessionNotification
from fixtures.builder import (
    ACCOUNT_VIEW,
    ALICE,
    BOB,
    CallBuilder,
    agent,
    callee,
    far_party,
    our_caller,
)
from fixtures.calls import queue_answered, reach_ivr, reach_queue

EVENTS_PER_SESSION = 10
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _ivr_then_hold_hangup(b: CallBuilder) -> None:
    caller, ivr = reach_ivr(b)
    alice = callee(3, ALICE)
    b.at(8.0, ivr, "Disconnected", reason="CallerInputRedirect")
    b.at(8.01, alice, "Setup")
    b.at(8.05, alice, "Proceeding")
    b.at(15.0, alice, "Answered")
    b.at(60.0, alice, "Hold")
    b.at(95.0, caller, "Disconnected")
    b.at(95.02, alice, "Disconnected")


def _voicemail(b: CallBuilder) -> None:
    caller, ivr = reach_ivr(b)
    alice = callee(3, ALICE)
    b.at(6.0, ivr, "Disconnected", reason="CallerInputRedirect")
    b.at(6.01, alice, "Setup")
    b.at(6.05, alice, "Proceeding")
    b.at(6.2, alice, "Proceeding")  # a repeated status with new details, as RingCentral sends
    b.at(26.0, alice, "VoiceMail", missed=True)
    b.at(48.0, caller, "Disconnected")
    b.at(48.05, alice, "Disconnected", missed=True)


def _queue_abandon(b: CallBuilder) -> None:
    caller, queue = reach_queue(b)
    alice, bob = agent(3, ALICE), agent(4, BOB)
    b.at(4.0, alice, "Proceeding")
    b.at(4.01, bob, "Proceeding")
    b.at(4.2, alice, "Proceeding")
    b.at(48.0, caller, "Disconnected")
    b.at(48.02, alice, "Disconnected", missed=True)
    b.at(48.03, bob, "Disconnected", missed=True)
    b.at(48.05, queue, "Disconnected")


def _outbound(b: CallBuilder) -> None:
    alice, far = our_caller(1, ALICE), far_party(2, ALICE)
    b.at(0.0, alice, "Setup")
    b.at(0.04, far, "Proceeding")
    b.at(1.5, alice, "Proceeding")
    b.at(9.0, far, "Answered")
    b.at(9.03, alice, "Answered")
    b.at(40.0, alice, "Hold")
    b.at(52.0, alice, "Answered")
    b.at(52.5, alice, "Answered")  # a repeated status with new details
    b.at(130.0, alice, "Disconnected")
    b.at(130.02, far, "Disconnected")


SHAPES: list[Callable[[CallBuilder], None]] = [
    queue_answered,
    _ivr_then_hold_hangup,
    _voicemail,
    _queue_abandon,
    _outbound,
]


SECONDS_BETWEEN_CALLS = 7  # with calls of 20-130 s, about ten calls are in progress at once


def build_sessions(
    count: int, *, start: datetime = START, tag: str = "bench"
) -> list[list[dict[str, Any]]]:
    """`count` sessions of 10 notifications each, as RingCentral posts them, one call started
    every SECONDS_BETWEEN_CALLS from `start`; `tag` keeps the ids of separate runs apart."""
    sessions = []
    for index in range(count):
        moment = start + timedelta(seconds=SECONDS_BETWEEN_CALLS * index)
        builder = CallBuilder(f"{tag}-{index}", moment)
        SHAPES[index % len(SHAPES)](builder)
        notifications = builder.notifications(ACCOUNT_VIEW)
        assert len(notifications) == EVENTS_PER_SESSION
        sessions.append(notifications)
    return sessions


def _models(session: list[dict[str, Any]]) -> list[TelephonySessionNotification]:
    parsed = [parse_notification(raw) for raw in session]
    return [item for item in parsed if isinstance(item, TelephonySessionNotification)]


def _median_rate(work: Callable[[], object], count: int, runs: int) -> float:
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        durations.append(time.perf_counter() - started)
    return count / statistics.median(durations)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Classifier throughput on one core.")
    parser.add_argument("--sessions", type=int, default=5000, help="sessions per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    args = parser.parse_args(argv)
    raw_sessions = build_sessions(args.sessions)
    now = START + timedelta(days=1)
    stored = [[orjson.dumps(raw) for raw in session] for session in raw_sessions]
    models = [_models(session) for session in raw_sessions]
    extracted: list[list[PartyEvent]] = [
        [event for notification in session for event in party_events(notification)]
        for session in models
    ]
    categories = Counter(classify_session(m, now=now).category.value for m in models)

    def from_models() -> None:
        for session in models:
            classify_session(session, now=now)

    def from_stored_json() -> None:
        for session in stored:
            events: list[PartyEvent] = []
            for payload in session:
                parsed = party_events_from_envelope(orjson.loads(payload))
                if isinstance(parsed, list):
                    events.extend(parsed)
            classify_events(events, now=now)

    def from_events() -> None:
        for events in extracted:
            classify_events(events, now=now)

    gc.collect()
    gc.freeze()  # the inputs live throughout: keep the collector from re-scanning them every run
    print(
        f"classifier: {args.sessions} sessions x {EVENTS_PER_SESSION} events, median of {args.runs}"
    )
    print(f"outcomes: {dict(sorted(categories.items()))}")
    print(f"{'path':<44}{'sessions/s':>12}{'us/session':>12}")
    for label, work in (
        ("classify_session(validated models)", from_models),
        ("stored JSON -> fast reader -> classify_events", from_stored_json),
        ("classify_events(extracted events)", from_events),
    ):
        rate = _median_rate(work, args.sessions, args.runs)
        print(f"{label:<44}{rate:>12,.0f}{1e6 / rate:>12.1f}")


if __name__ == "__main__":
    main()
