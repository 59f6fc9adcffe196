"""Response models of the query API. They document the contract in OpenAPI (/docs); the routes
serve stored outcome JSON as it is, so these models are not used to re-validate each answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from classifiers.outcome import (
    Category,
    Direction,
    LegOutcomeKind,
    Reconciliation,
    Source,
    Stage,
)

EXAMPLE_OUTCOME: dict[str, Any] = {
    "telephony_session_id": "s-52e839cb4ce5a9aa424d99ef43200490",
    "direction": "inbound",
    "category": "abandoned_queue",
    "category_label": "hung up waiting in the queue",
    "reason": None,
    "stage": "queue",
    "is_abandoned": True,
    "final": True,
    "started_at": "2026-03-02T13:30:00Z",
    "answered_at": None,
    "ended_at": "2026-03-02T13:30:48Z",
    "ring_s": 44.0,
    "wait_s": 47.95,
    "talk_s": None,
    "hold_s": None,
    "voicemail_s": None,
    "time_to_abandon_s": 48.0,
    "queue": "Sales Queue",
    "extension_ids": ["300300016", "300401016", "300402016"],
    "names": {
        "300300016": "Sales Queue (300)",
        "300401016": "Alice Adams (101)",
        "300402016": "Bob Brown (102)",
    },
    "from_number": "+14155550123",
    "to_number": "+18005550199",
    "evidence": [
        "caller_party_disconnected_first",
        "call_log:result=Missed",
        "call_log:reason=Hang Up",
    ],
    "data_gaps": [],
    "sources": ["webhook", "call_log"],
    "reconciliation": "agreed",
    "legs": [
        {
            "party_id": "p-52e839cb4ce5a9aa424d99ef43200490-3",
            "extension_id": "300401016",
            "name": "Alice Adams (101)",
            "outcome": "caller_abandoned",
        }
    ],
    "rules_version": "3",
    "thresholds": {
        "hold_hangup_is_abandon": False,
        "min_talk_s": 0.5,
        "session_stale_after_s": 14400.0,
        "short_abandon_s": 5.0,
        "sla_s": 20.0,
        "vm_min_message_s": 10.0,
    },
    "revision": 2,
    "updated_at": "2026-03-02T13:36:02.480000Z",
    "recovered_at": "2026-03-02T13:52:10.120000Z",
    "recovered_by": "s-a41f0c2b9d7e46e1b2c3d4e5f6a7b8c9",
    "time_to_recovery_s": 968.4,
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable error code.", examples=["invalid_parameter"])
    message: str = Field(description="What went wrong, for people.")
    parameter: str | None = Field(
        default=None, description="The request parameter at fault (422 only).", examples=["from"]
    )


class ErrorBody(BaseModel):
    """Every error: `{"error": {"code", "message"}}`, never a stack trace."""

    error: ErrorDetail


class Leg(BaseModel):
    party_id: str = Field(description="RingCentral party id.")
    extension_id: str | None = Field(description="The party's extension, if it has one.")
    name: str | None = Field(
        default=None,
        description='The extension as the directory names it ("Alice Adams (101)"), when known.',
    )
    outcome: LegOutcomeKind = Field(description="What happened to this extension's leg.")


class OutcomeOut(BaseModel):
    """One call's outcome (docs/outcomes.md), as stored, plus `revision` and `updated_at`."""

    model_config = ConfigDict(json_schema_extra={"example": EXAMPLE_OUTCOME})

    telephony_session_id: str = Field(description="RingCentral telephonySessionId.")
    direction: Direction
    category: Category = Field(description="The call's outcome category.")
    category_label: str | None = Field(
        default=None,
        description='The category in plain words, e.g. "hung up while ringing" (docs/outcomes.md).',
    )
    reason: str | None = Field(description="Sub-reason, e.g. `ring_timeout` for `missed`.")
    stage: Stage = Field(description="Where the caller was when the call ended.")
    is_abandoned: bool = Field(description="True for `abandoned_*` and `short_abandon`.")
    final: bool = Field(description="False while the call is in progress.")
    started_at: datetime | None = Field(description="First event time of the session (UTC).")
    answered_at: datetime | None
    ended_at: datetime | None
    ring_s: float | None = Field(description="Seconds a person was rung before the answer/end.")
    wait_s: float | None = Field(
        description="Seconds before a person answered, voicemail began or the call ended "
        "(from queue entry for queue calls)."
    )
    talk_s: float | None
    hold_s: float | None
    voicemail_s: float | None
    time_to_abandon_s: float | None = Field(
        description="Seconds from the call's start to the caller's hang-up (abandons only)."
    )
    queue: str | None = Field(description="Call queue name, when a queue handled the call.")
    extension_ids: list[str]
    names: dict[str, str] = Field(
        default_factory=dict,
        description="Display names of the call's extensions (users, queues, IVR menus) by "
        "extension id, from the directory when the outcome was last written; an extension the "
        "directory does not know is absent. `GET /v1/directory` lists them all.",
    )
    from_number: str | None
    to_number: str | None
    evidence: list[str] = Field(description="Which signals decided the category.")
    data_gaps: list[str] = Field(description="What was missing, e.g. `no_final_event`.")
    sources: list[Source] = Field(
        description="Where the outcome's data came from: the telephony webhooks, the call log."
    )
    reconciliation: Reconciliation = Field(
        description="How the two sources agreed: `agreed`, `call_log_corrected` (the call log "
        "won; the events' verdict is in `evidence` as `events_suggest:`), `events_only`, "
        "`call_log_only` (the webhooks never came), `awaiting_call_log`."
    )
    legs: list[Leg]
    rules_version: str
    thresholds: dict[str, Any] = Field(description="Thresholds the call was classified with.")
    revision: int = Field(description="Bumped each time the stored outcome changes.")
    updated_at: datetime = Field(description="When this revision was stored.")
    recovered_at: datetime | None = Field(
        default=None,
        description="Abandoned calls: when a later call reached the same number (answered "
        "inbound, connected outbound) within the recovery window; null until one does.",
    )
    recovered_by: str | None = Field(
        default=None, description="The `telephony_session_id` of the call that recovered it."
    )
    time_to_recovery_s: float | None = Field(
        default=None,
        description="Seconds from the caller hanging up to the recovering call connecting.",
    )


class CallPage(BaseModel):
    items: list[OutcomeOut] = Field(description="Outcomes, newest `started_at` first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page.",
        examples=["WyJjMSIsIjIwMjYtMDMtMDJUMTM6MzA6MDArMDA6MDAiLCJzLTUyZTgzOSJd"],
    )


class StoredLeg(BaseModel):
    party_id: str
    extension_id: str | None
    outcome: LegOutcomeKind
    started_at: datetime | None = Field(description="The call's start (legs index by it).")


class TimelineEvent(BaseModel):
    """One party snapshot of one stored notification."""

    sequence: int = Field(description="RingCentral's per-session event sequence number.")
    event_time: datetime = Field(description="`body.eventTime`: when RingCentral says it happened.")
    received_at: datetime = Field(description="When callsift stored the notification.")
    uuid: str = Field(description="The notification's uuid.")
    party_id: str
    extension_id: str | None
    direction: str = Field(description="The party's own direction (`inbound`/`outbound`).")
    status_code: str = Field(description="Party status code, e.g. `Proceeding`.")
    status_reason: str | None = Field(description="Status reason, e.g. `CallerInputRedirect`.")
    missed_call: bool


class CallDetail(BaseModel):
    outcome: OutcomeOut
    legs: list[StoredLeg] = Field(description="Stored leg rows (one per extension party).")
    events: list[TimelineEvent] = Field(
        description="The raw event timeline, in sequence order; unreadable events are skipped."
    )
    call_log: list[dict[str, Any]] = Field(
        description="The session's call-log records exactly as RingCentral sent them (latest "
        "version of each), by start time; empty until the call-log sync has read them."
    )


class AbandonedChange(BaseModel):
    removed: bool = Field(
        description="True when this revision means the call no longer belongs in the abandoned "
        "feed (it stopped being abandoned, or it is a short abandon and include_short=false): "
        "remove it from the dashboard."
    )
    change_seq: int = Field(description="The change number of this revision.")
    outcome: OutcomeOut


class AbandonFigures(BaseModel):
    """Counts and abandon rates of some calls (a window, a trend bucket)."""

    offered: int
    answered: int
    abandoned: int = Field(description="All abandons: long (L) + short (S).")
    long_abandons: int = Field(description="L: abandoned, not `short_abandon`.")
    short_abandons: int = Field(description="S: `short_abandon` calls.")
    abandon_rate: float | None = Field(description="Net: L / (offered - S); null when 0/0.")
    abandon_rate_gross: float | None = Field(description="(L + S) / offered; null when 0/0.")


class SummaryWindow(AbandonFigures):
    start: datetime = Field(description="Window start (inclusive), on `started_at`.")
    end: datetime = Field(description="Window end (exclusive).")
    time_to_abandon_histogram: list[HistogramBucket]


class LiveGroup(BaseModel):
    calls: int
    longest_since: datetime | None = Field(
        description="Start of the longest-waiting of these calls: its wait is now minus this."
    )


class LivePlace(LiveGroup):
    stage: Stage = Field(description="`queue` or `ivr`.")
    place: str | None = Field(
        description="The queue's name, or the IVR menu's directory name; null when unknown."
    )


class LiveNow(BaseModel):
    """Calls in progress when the summary was computed."""

    waiting: list[LivePlace] = Field(
        description="Calls waiting in each queue and IVR menu, longest wait first."
    )
    stages: dict[str, LiveGroup] = Field(
        description="Calls in progress by stage: `queue`, `ivr`, `ringing`, `voicemail`, "
        "`hold`, `connected`, `unknown`."
    )


class Summary(BaseModel):
    as_of: datetime = Field(description="The minute the windows end at (recomputed once a minute).")
    last_hour: SummaryWindow
    last_24h: SummaryWindow
    today: SummaryWindow = Field(description="Since midnight in the service's `report_tz`.")
    time_zone: str = Field(
        description="The IANA time zone `today` is counted in (`CALLSIFT_REPORT_TZ`).",
        examples=["Europe/Paris"],
    )
    live: LiveNow = Field(description="Calls in progress now, where they wait.")


class AbandonedPoll(BaseModel):
    changes: list[AbandonedChange] = Field(description="In change order (oldest first).")
    cursor: str = Field(description="Pass as `since` in the next poll.")
    has_more: bool = Field(description="True when more changes wait: poll again at once.")
    server_time: datetime = Field(
        description="The service's clock at this answer: a dashboard counts waits from "
        "`live.waiting[].longest_since` with it, whatever the browser's clock says."
    )
    summary: Summary
    demo: bool = Field(description="True when the service runs in demo mode (show a banner).")
    abandon_rate_target: float = Field(
        description="`CALLSIFT_ABANDON_RATE_TARGET`: a net abandon rate above it is shown in red."
    )


class CallbackAttempt(BaseModel):
    telephony_session_id: str
    started_at: datetime
    ended_at: datetime | None
    category: Category
    category_label: str | None = Field(description='In plain words: "hung up in the queue".')
    queue: str | None
    time_to_abandon_s: float | None


class Callback(BaseModel):
    """A caller to call back: one number, every unrecovered abandoned call of it."""

    number: str | None = Field(description="The number as the last attempt showed it (E.164).")
    caller_key: str = Field(description="The number's digits, which callsift compares.")
    attempts: int = Field(description="Unrecovered abandoned calls from this number.")
    first_abandoned_at: datetime
    last_abandoned_at: datetime
    call_back_before: datetime = Field(
        description="After this, a call reaching the number no longer counts as recovering "
        "the last attempt (its start + the recovery window)."
    )
    calls: list[CallbackAttempt] = Field(description="The attempts, oldest first.")


class RecoverySummary(BaseModel):
    abandoned: int = Field(description="Abandoned calls with a number to call back.")
    recovered: int = Field(description="Those a later call reached within the window.")
    recovery_rate: float | None = Field(description="recovered / abandoned.")
    median_time_to_recovery_s: float | None = Field(
        description="Median seconds from hang-up to the recovering call (linear interpolation)."
    )


class CallbackList(BaseModel):
    callbacks: list[Callback] = Field(description="Oldest first attempt first.")
    has_more: bool = Field(description="True when `limit` cut the list.")
    numbers: int = Field(description="How many numbers are waiting for a call back in all.")
    as_of: datetime = Field(description="The window ends here (the current minute).")
    window_s: float = Field(description="`CALLSIFT_RECOVERY_WINDOW_S`.")
    recovery: RecoverySummary = Field(description="The window's abandoned calls.")


class HistogramBucket(BaseModel):
    from_s: float = Field(description="Lower bound in seconds (inclusive).", examples=[0])
    to_s: float | None = Field(description="Upper bound (exclusive); null for 300+.")
    count: int


class AgentLegs(BaseModel):
    """An agent's legs on the calls of her group (agent groups; the totals: every agent's)."""

    offered: int = Field(
        description="Legs offered to the agent: all her legs on the group's calls, whatever "
        "their outcome (a call that rang her twice is two legs)."
    )
    outcomes: dict[str, int] = Field(
        description="Legs per leg outcome (`answered`, `missed`, `rejected`, "
        "`answered_elsewhere`, `caller_abandoned`, `voicemail_left`, `abandoned_voicemail`, "
        "`transferred`, `in_progress`): every kind, 0 when none; they sum to `offered`.",
        examples=[{"answered": 40, "missed": 3, "rejected": 1, "answered_elsewhere": 12}],
    )
    miss_rate: float | None = Field(
        description="outcomes.missed / offered; null when no leg was offered."
    )


class OutcomeStats(BaseModel):
    """Metrics of one group. See docs/api.md for the exact definitions."""

    key: str | None = Field(
        description="Group key: extension id (extension and agent groups), queue name (null = "
        "no queue), or for time groups the bucket start; null for totals.",
        examples=["300401016"],
    )
    name: str | None = Field(
        description="Extension, agent and queue groups: the directory's name (a queue the "
        "directory does not know: the name its calls carry); null when unknown and for time "
        "groups and totals.",
        examples=["Alice Adams"],
    )
    extension_number: str | None = Field(
        description="Extension, agent and queue groups: the directory's extension number; null "
        "when unknown.",
        examples=["101"],
    )
    start: datetime | None = Field(description="Time bucket start (hour/day groups only).")
    end: datetime | None = Field(description="Time bucket end (hour/day groups only).")
    offered: int = Field(description="Final inbound and internal calls that started in range.")
    answered: int
    abandoned: int = Field(description="L + S.")
    long_abandons: int = Field(description="L: is_abandoned and category != short_abandon.")
    short_abandons: int = Field(description="S: category = short_abandon.")
    answered_within_sla: int = Field(description="Answered with wait_s <= sla_s.")
    abandon_rate: float | None = Field(description="L / (offered - S).")
    abandon_rate_gross: float | None = Field(description="(L + S) / offered.")
    service_level: float | None = Field(
        description="answered_within_sla / (answered + L), leaving out answered calls known "
        "only from the call log (their wait is unknown)."
    )
    average_speed_of_answer_s: float | None = Field(description="Mean wait_s of answered calls.")
    time_to_abandon_p50_s: float | None = Field(
        description="Median time_to_abandon_s of abandons (L + S), linear interpolation."
    )
    time_to_abandon_p90_s: float | None
    time_to_abandon_max_s: float | None
    categories: dict[str, int] = Field(description="Calls per category.")
    reconciliation: dict[str, int] = Field(
        description="Calls per reconciliation state (`agreed`, `call_log_corrected`, ...)."
    )
    agreement_rate: float | None = Field(
        description="agreed / (agreed + call_log_corrected): how often the webhooks' verdict "
        "matched the call log where both exist."
    )
    time_to_abandon_histogram: list[HistogramBucket]
    legs: AgentLegs | None = Field(
        description="Agent groups (and the totals of an agent report, every agent together): "
        "the agent's legs per leg outcome and her miss rate; null for the other groupings."
    )


class StatsReport(BaseModel):
    start: datetime = Field(description="`from` as applied (inclusive).")
    end: datetime = Field(description="`to` as applied (exclusive).")
    group_by: str
    tz: str
    sla_s: float
    groups: list[OutcomeStats] = Field(
        description="Time groups in time order (empty buckets included); other groups by key."
    )
    totals: OutcomeStats = Field(description="The whole range as one group.")
    recovery: RecoverySummary = Field(
        description="The range's abandoned calls (short ones included) with a number to call "
        "back, and how many a later call reached (`CALLSIFT_RECOVERY_WINDOW_S`)."
    )


class Info(BaseModel):
    version: str = Field(examples=["0.1.0"])
    demo: bool = Field(description="True in demo mode.")
    database: str = Field(description="`sqlite` or `postgresql`.")
    sla_s: float = Field(description="Default service-level threshold (seconds).")
    short_abandon_s: float
    report_tz: str


SummaryWindow.model_rebuild()
