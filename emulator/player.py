"""Playing scenarios: plan calls on the simulated clock, register them, deliver their notifications.

Pacing `instant` places the whole batch in the recent past (it ends just before `now`) and
delivers everything at once; `realtime` starts the batch now and waits for each event's time on
the simulated clock (`speed` > 1 makes simulated time run faster; advancing the clock skips ahead).
Chaos knobs apply per delivery (drop, duplicate with the same uuid, extra delay, reordering in
windows) and per call, decided when the play is planned: `lose_calls` loses every notification of
a call, `lose_starts` the first events of its main session. Lost and dropped notifications are
recorded, never sent; the call log is not affected.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog

from emulator.clock import SimClock, iso
from emulator.config import ChaosConfig, EmulatorConfig
from emulator.directory import Account
from emulator.dispatch import Dispatcher
from emulator.ids import Ids, regular_numbers
from emulator.notifications import (
    envelope,
    telephony_subscribers,
    voicemail_body,
    voicemail_subscribers,
)
from emulator.scenarios import KINDS, GeneratedCall, ScenarioError, Topology, build_call, mix_kinds
from emulator.scenarios.model import PartyEvent, VoicemailDrop
from emulator.subscriptions import Subscription

log = structlog.get_logger(__name__)

Pacing = Literal["instant", "realtime"]
TimelineItem = PartyEvent | VoicemailDrop


@dataclass(frozen=True, slots=True)
class PlayOptions:
    """`kinds`: scenario kinds (each played `count` times), `["all"]` for every kind the
    account can play, or None for a weighted random mix of `count` calls."""

    kinds: Sequence[str] | None = None
    count: int = 1
    seed: int | None = None
    pacing: Pacing = "instant"
    speed: float = 1.0
    spacing_s: float = 15.0
    chaos: ChaosConfig | None = None
    account_id: str | None = None

    def __post_init__(self) -> None:
        if self.count < 1 or self.speed <= 0 or self.spacing_s < 0:
            msg = "count must be >= 1, speed > 0 and spacing_s >= 0"
            raise ScenarioError(msg)
        if self.pacing not in ("instant", "realtime"):
            msg = f"pacing must be instant or realtime, got {self.pacing!r}"
            raise ScenarioError(msg)


@dataclass(slots=True)
class Play:
    id: str
    options: PlayOptions
    calls: list[GeneratedCall]
    skipped_kinds: list[str]
    started_at: datetime
    status: str = "running"
    notifications: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    lost: int = 0
    duplicates: int = 0
    suppressed: int = 0
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def wait(self) -> Play:
        if self.task is not None:
            await asyncio.shield(self.task)
        return self

    def summary(self, *, with_calls: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "playId": self.id,
            "status": self.status,
            "pacing": self.options.pacing,
            "startedAt": iso(self.started_at),
            "calls": len(self.calls),
            "skippedKinds": self.skipped_kinds,
            "notifications": self.notifications,
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "error": self.error,
        }
        if with_calls:
            data["callList"] = [c.summary() for c in self.calls]
        return data


class Player:
    def __init__(
        self,
        config: EmulatorConfig,
        clock: SimClock,
        dispatcher: Dispatcher,
        subscriptions: Callable[[], list[Subscription]],
        public_base: Callable[[], str],
    ) -> None:
        self._config = config
        self._calls_seed = config.seed if config.calls_seed is None else config.calls_seed
        self._regulars = regular_numbers(config.regular_callers, config.seed)
        self._clock = clock
        self._dispatcher = dispatcher
        self._subscriptions = subscriptions
        self._public_base = public_base

    # planning --------------------------------------------------------------------------------

    def plan(self, play_id: str, account: Account, options: PlayOptions, play_number: int) -> Play:
        topology = Topology.of(account)
        seed = options.seed if options.seed is not None else play_number
        rng = random.Random(f"{self._calls_seed}:{play_number}:{seed}")
        kinds, skipped = self._kinds(options, topology, rng)
        offsets = [0.0]
        for _ in kinds[1:]:
            offsets.append(offsets[-1] + rng.uniform(0.5, 1.5) * options.spacing_s)
        seeds = [f"{self._calls_seed}:{play_number}:{seed}:{i}" for i in range(len(kinds))]
        now = self._clock.now()
        anchor = now + timedelta(seconds=0.5)
        if options.pacing == "instant":
            trial = self._build(kinds, seeds, offsets, topology, anchor)
            last = max(_last_moment(c) for c in trial)
            anchor -= last - now + timedelta(seconds=1)
        calls = self._build(kinds, seeds, offsets, topology, anchor)
        losses = random.Random(f"{self._calls_seed}:{play_number}:{seed}:losses")
        chaos = options.chaos or self._config.chaos
        for number, call in enumerate(calls, start=1):
            call.play_id = play_id
            call.call_id = f"{play_id}-{number:04d}"
            assign_webhook_fate(call, chaos, losses)
        return Play(play_id, options, calls, skipped, now)

    def _kinds(
        self, options: PlayOptions, topology: Topology, rng: random.Random
    ) -> tuple[list[str], list[str]]:
        if options.kinds is None:
            return mix_kinds(rng, options.count, topology), []
        wanted = list(KINDS) if list(options.kinds) == ["all"] else list(options.kinds)
        playable, skipped = [], []
        for name in wanted:
            spec = KINDS.get(name)
            if spec is None:
                msg = f"unknown scenario kind {name!r}; known: {', '.join(sorted(KINDS))}"
                raise ScenarioError(msg)
            if lacks := topology.missing(spec.needs):
                if list(options.kinds) != ["all"]:
                    msg = f"scenario {name} needs {', '.join(lacks)}"
                    raise ScenarioError(msg)
                skipped.append(name)
                continue
            playable.extend([name] * options.count)
        if not playable:
            msg = "no scenario kind can be played on this account"
            raise ScenarioError(msg)
        return playable, skipped

    def _build(
        self,
        kinds: list[str],
        seeds: list[str],
        offsets: list[float],
        topology: Topology,
        anchor: datetime,
    ) -> list[GeneratedCall]:
        return [
            build_call(
                kind,
                topology,
                seed=seed,
                start=anchor + timedelta(seconds=offset),
                style=self._config.session_id_style,
                regulars=self._regulars,
            )
            for kind, seed, offset in zip(kinds, seeds, offsets, strict=True)
        ]

    # playback --------------------------------------------------------------------------------

    async def run(self, play: Play, number: int) -> None:
        options = play.options
        chaos = options.chaos or self._config.chaos
        rng = random.Random(f"{self._calls_seed}:chaos:{number}")
        ids = Ids(rng)
        items = _timeline(play.calls)
        window = max(1, chaos.reorder_window)
        pending: list[asyncio.Task[None]] = []
        try:
            for start in range(0, len(items), window):
                chunk = items[start : start + window]
                if options.pacing == "realtime":
                    await self._clock.sleep_until(_moment(chunk[-1][0]), speed=options.speed)
                if window > 1:
                    rng.shuffle(chunk)
                for item, call in chunk:
                    pending.extend(self._fan_out(play, item, call, chaos, rng, ids))
            await asyncio.gather(*pending)
            play.status = "done"
        except asyncio.CancelledError:
            for task in pending:
                task.cancel()
            play.status = "cancelled"
            raise
        except Exception as exc:  # a play must end in a reported state, never silently
            play.status, play.error = "failed", repr(exc)
            log.exception("emulator.play_failed", play_id=play.id)

    def _fan_out(
        self,
        play: Play,
        item: TimelineItem,
        call: GeneratedCall,
        chaos: ChaosConfig,
        rng: random.Random,
        ids: Ids,
    ) -> list[asyncio.Task[None]]:
        now = self._clock.now()
        instant = play.options.pacing == "instant"
        stamp = _moment(item) + timedelta(seconds=rng.uniform(0.03, 0.2)) if instant else now
        tasks = []
        for subscription, message, kind in self._render(item, now, stamp, ids):
            play.notifications += 1
            if call.webhook_lost(item):
                self._dispatcher.not_sent(subscription, message, kind, "lost")
                play.lost += 1
                continue
            if rng.random() < chaos.drop:
                self._dispatcher.not_sent(subscription, message, kind, "dropped")
                play.dropped += 1
                continue
            duplicate = rng.random() < chaos.duplicate
            delay = rng.uniform(0, chaos.delay_s) if chaos.delay_s else 0.0
            coro = self._send(play, subscription, message, kind, duplicate, delay)
            tasks.append(asyncio.create_task(coro))
        return tasks

    def _render(
        self, item: TimelineItem, now: datetime, stamp: datetime, ids: Ids
    ) -> list[tuple[Subscription, dict[str, Any], str]]:
        subscriptions = self._subscriptions()
        if isinstance(item, PartyEvent):
            body = item.body()
            return [
                (s, envelope(uuid=ids.notification_uuid(), event=item.event_path,
                             timestamp=stamp, subscription=s, body=body), "notification")
                for s in telephony_subscribers(subscriptions, item, now)
            ]  # fmt: skip
        message = voicemail_body(item, self._public_base())
        return [
            (s, envelope(uuid=ids.uuid4(), event=item.event_path, timestamp=stamp,
                         subscription=s, body=message), "notification")
            for s in voicemail_subscribers(subscriptions, item, now)
        ]  # fmt: skip

    async def _send(
        self,
        play: Play,
        subscription: Subscription,
        message: dict[str, Any],
        kind: str,
        duplicate: bool,
        delay: float,
    ) -> None:
        copies = 2 if duplicate else 1
        for copy in range(copies):
            record = await self._dispatcher.deliver(
                subscription,
                message,
                kind=kind,
                duplicate=copy > 0,
                delay_s=delay if copy == 0 else 0.0,
            )
            play.duplicates += copy
            if record.outcome == "delivered":
                play.delivered += 1
            elif record.outcome == "failed":
                play.failed += 1
            elif record.outcome == "lost":
                play.lost += 1
            else:
                play.suppressed += 1


def assign_webhook_fate(call: GeneratedCall, chaos: ChaosConfig, rng: random.Random) -> None:
    """Draw whether the call loses all its notifications, the start of its main session (below
    a cut among its sequence numbers: the first event is lost, the last one delivered), or none."""
    if rng.random() < chaos.lose_calls:
        call.webhooks = "lost"
        return
    if rng.random() < chaos.lose_starts:
        sequences = sorted(e.sequence for e in call.events_of(call.truth.telephony_session_id))
        if len(sequences) > 1:
            call.webhooks = "lost_start"
            call.lost_below_sequence = rng.choice(sequences[1:])


def _moment(item: TimelineItem) -> datetime:
    return item.event_time if isinstance(item, PartyEvent) else item.at


def _last_moment(call: GeneratedCall) -> datetime:
    moments = [call.ended_at, *(d.at for d in call.voicemails)]
    return max(moments)


def _timeline(calls: list[GeneratedCall]) -> list[tuple[TimelineItem, GeneratedCall]]:
    """Every notification source of the play, with its call, in time order."""
    keyed: list[tuple[datetime, int, int, TimelineItem]] = []
    for index, call in enumerate(calls):
        keyed.extend((e.event_time, index, e.sequence, e) for e in call.events)
        keyed.extend((d.at, index, 10**9, d) for d in call.voicemails)
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    return [(k[3], calls[k[1]]) for k in keyed]
