"""The scenario engine's ground truth agrees with the classifier, for every scenario kind.

Offline: each kind, several seeds, the account-level view plus the evidence the platform would
give (voicemail messages, call-log records, the directory). Live: every kind played over HTTP
with duplicated and reordered deliveries, classified from what the receiver actually got.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from classifiers import Evidence, OwnedVoicemail, classify_session
from classifiers.payloads import TelephonySessionNotification, VoicemailMessage
from emulator.config import ChaosConfig
from emulator.directory import DEMO_EXTENSIONS, Directory
from emulator.ids import Ids
from emulator.scenarios import KINDS, GeneratedCall, Topology, build_call
from tests.emulator.helpers import TELEPHONY_ACCOUNT, VOICEMAIL, Login, Platform, Receiver

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SEEDS = range(5)
TOPOLOGY = Topology.of(Directory(Ids(random.Random(11))).create_account(extensions=DEMO_EXTENSIONS))


def disagreements(call: GeneratedCall, evidence: Evidence, label: str) -> list[str]:
    found = []
    now = call.ended_at + timedelta(hours=1)
    for truth in call.truths:
        notifications = call.notifications(truth.telephony_session_id)
        outcome = classify_session(notifications, now=now, evidence=evidence)
        found += [f"{label} {truth.telephony_session_id}: {p}" for p in truth.mismatches(outcome)]
        if not outcome.final:
            found.append(f"{label} {truth.telephony_session_id}: not final")
    return found


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_classifier_agrees_on_every_kind(kind: str) -> None:
    problems: list[str] = []
    for seed in SEEDS:
        call = build_call(kind, TOPOLOGY, seed=seed, start=START)
        problems += disagreements(call, call.evidence(), f"seed {seed}")
    assert problems == []


@pytest.mark.parametrize(
    "kind", sorted(k for k, spec in KINDS.items() if "call_log" not in spec.expect.needs)
)
def test_classifier_agrees_without_call_log_or_directory(kind: str) -> None:
    """Only events and voicemail notifications: what a webhook-only deployment sees."""
    problems: list[str] = []
    for seed in SEEDS:
        call = build_call(kind, TOPOLOGY, seed=seed, start=START)
        full = call.evidence(call_log=False)
        evidence = Evidence(voicemails=full.voicemails)
        problems += disagreements(call, evidence, f"seed {seed}")
    assert problems == []


async def test_classifier_agrees_on_live_deliveries_with_chaos(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    response = await platform.subscribe(alice, receiver.url, [TELEPHONY_ACCOUNT])
    assert response.status_code == 200
    for user in ("Alice Adams", "Bob Brown", "Carol Chen", "Dan Diaz", "Erin Evans"):
        login = await platform.login(platform.extension(user))
        assert (await platform.subscribe(login, receiver.url, [VOICEMAIL])).status_code == 200
    chaos = ChaosConfig(duplicate=0.2, reorder_window=6)
    play = await platform.emulator.play(["all"], chaos=chaos, seed=3)
    assert play.duplicates > 0

    by_session: dict[str, list[TelephonySessionNotification]] = defaultdict(list)
    voicemails = []
    for request in receiver.notifications:
        envelope = request.json()
        if envelope["event"].endswith("/voicemail"):
            owner = envelope["event"].split("/extension/")[1].split("/")[0]
            message = VoicemailMessage.model_validate(envelope["body"])
            voicemails.append(OwnedVoicemail(extension_id=owner, message=message))
        else:
            notification = TelephonySessionNotification.model_validate(envelope)
            by_session[notification.body.telephony_session_id].append(notification)
    problems = []
    for call in play.calls:
        evidence = call.evidence(platform.base_url)
        evidence = Evidence(
            voicemails=voicemails, call_log=evidence.call_log, directory=evidence.directory
        )
        for truth in call.truths:
            outcome = classify_session(
                by_session[truth.telephony_session_id],
                now=platform.emulator.now() + timedelta(hours=1),
                evidence=evidence,
            )
            problems += [f"{call.kind}: {p}" for p in truth.mismatches(outcome)]
    assert problems == []
