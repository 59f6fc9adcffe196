"""The database schema (SQLAlchemy Core). Alembic migrations in `migrations/` create it.

docs/architecture.md describes every table and who writes it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from classifiers.outcome import Category
from classifiers.recovery import REACHING_CATEGORIES
from service.db.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

raw_events = Table(
    "raw_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("uuid", String(128), nullable=False, unique=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("subscription_id", String(64)),
    Column("owner_id", String(32)),
    Column("extension_id", String(32)),
    Column("event", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("telephony_session_id", String(128)),
    Column("sequence", BigInteger()),
    Column("party_id", String(128)),
    Column("event_time", UtcDateTime()),
    Column("payload", Text(), nullable=False),
    Index("ix_raw_events_session", "telephony_session_id", "sequence"),
)

# The stored events the processor has not taken in yet, by raw_events id: written in the
# webhook's insert, deleted in the processor's transaction (migration 0010). A queue of its own
# because marking the wide raw_events rows rewrote each of them and its index entries.
event_queue = Table(
    "event_queue",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=False),
)

quarantined_events = Table(
    "quarantined_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("subscription_id", String(64)),
    Column("content_type", String(255)),
    Column("error", Text(), nullable=False),
    Column("payload", LargeBinary(), nullable=False),
)

# the callback list and the recovery counts: abandoned calls with a number to call back, with
# (on PostgreSQL) the columns those reads need, so that they read the index alone (0008)
ABANDONED_CALLERS = "is_abandoned AND caller_key IS NOT NULL"
# the callback list: abandoned calls with a number to call that nothing has recovered yet
UNRECOVERED = "is_abandoned AND recovered_at IS NULL AND caller_key IS NOT NULL"
# abandoned calls that a later call recovered (migration 0009)
RECOVERED = "is_abandoned AND recovered_at IS NOT NULL AND caller_key IS NOT NULL"
# calls that reached their caller, as classifiers.recovery.reached_at says (migration 0009)
REACHING = (
    "caller_key IS NOT NULL AND NOT is_abandoned AND (category IN ("
    + ", ".join(f"'{category.value}'" for category in sorted(REACHING_CATEGORIES))
    + f") OR (category = '{Category.IN_PROGRESS.value}' AND answered_at IS NOT NULL))"
)

call_outcomes = Table(
    "call_outcomes",
    metadata,
    Column("telephony_session_id", String(128), primary_key=True),
    Column("direction", String(16), nullable=False),
    Column("category", String(32), nullable=False),
    Column("reason", String(64)),
    Column("stage", String(16), nullable=False),
    Column("is_abandoned", Boolean(), nullable=False),
    Column("ever_abandoned", Boolean(), nullable=False),
    Column("final", Boolean(), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("answered_at", UtcDateTime()),
    Column("ended_at", UtcDateTime()),
    Column("ring_s", Float()),
    Column("wait_s", Float()),
    Column("talk_s", Float()),
    Column("hold_s", Float()),
    Column("voicemail_s", Float()),
    Column("time_to_abandon_s", Float()),
    Column("queue", String(255)),
    Column("from_number", String(64)),
    Column("to_number", String(64)),
    Column("rules_version", String(16), nullable=False),
    Column("document", Text(), nullable=False),
    Column("revision", Integer(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("change_seq", BigInteger(), nullable=False, unique=True),
    Column("last_event_at", UtcDateTime()),
    # `webhook`, `call_log` or `webhook,call_log`; and how the two agreed (migration 0005)
    Column("sources", String(32), nullable=False, server_default="webhook"),
    Column("reconciliation", String(24), nullable=False, server_default="events_only"),
    Column("session_id", String(64)),  # the older sessionId, which some call-log records carry
    # the outside party's number as digits, and how an abandoned call was recovered (0006)
    Column("caller_key", String(64)),
    Column("recovered_at", UtcDateTime()),
    Column("recovered_by", String(128)),
    Column("time_to_recovery_s", Float()),
    Index("ix_call_outcomes_started_at", "started_at"),
    Index("ix_call_outcomes_session_id", "session_id"),
    Index(
        "ix_call_outcomes_awaiting",
        "started_at",
        postgresql_where=text("reconciliation = 'awaiting_call_log'"),
        sqlite_where=text("reconciliation = 'awaiting_call_log'"),
    ),
    Index("ix_call_outcomes_abandoned_updated", "is_abandoned", "updated_at"),
    Index(
        "ix_call_outcomes_abandoned_callers",
        "started_at",
        postgresql_where=text(ABANDONED_CALLERS),
        postgresql_include=["caller_key", "category", "recovered_at", "time_to_recovery_s"],
        sqlite_where=text(ABANDONED_CALLERS),
    ),
    # what keeps recoveries current (service/processing/recovery.py)
    Index(
        "ix_call_outcomes_reaching",
        "caller_key",
        "started_at",
        postgresql_where=text(REACHING),
        sqlite_where=text(REACHING),
    ),
    Index(
        "ix_call_outcomes_caller_unrecovered",
        "caller_key",
        "started_at",
        postgresql_where=text(UNRECOVERED),
        sqlite_where=text(UNRECOVERED),
    ),
    Index(
        "ix_call_outcomes_caller_recovered",
        "caller_key",
        "recovered_at",
        postgresql_where=text(RECOVERED),
        sqlite_where=text(RECOVERED),
    ),
    Index(
        "ix_call_outcomes_recovered_by",
        "recovered_by",
        postgresql_where=text("recovered_by IS NOT NULL"),
        sqlite_where=text("recovered_by IS NOT NULL"),
    ),
    Index(
        "ix_call_outcomes_open",
        "last_event_at",
        postgresql_where=text("NOT final"),
        sqlite_where=text("NOT final"),
    ),
)

call_legs = Table(
    "call_legs",
    metadata,
    Column("telephony_session_id", String(128), primary_key=True),
    Column("party_id", String(128), primary_key=True),
    Column("extension_id", String(32)),
    Column("outcome", String(32), nullable=False),
    Column("started_at", UtcDateTime()),
    Index("ix_call_legs_extension_started", "extension_id", "started_at"),
)

# One row: the last change sequence number handed to an outcome. Updating it inside the
# processor's transaction orders changes by commit, so a poller's cursor never skips one.
outcome_changes = Table(
    "outcome_changes",
    metadata,
    Column("id", Integer(), primary_key=True),
    Column("last_seq", BigInteger(), nullable=False),
)

# Monitored extensions (or one account-level admin) and their encrypted JWT credential.
extensions = Table(
    "extensions",
    metadata,
    Column("extension_id", String(32), primary_key=True),
    Column("account_id", String(32)),
    Column("name", String(255)),
    Column("mode", String(16), nullable=False),
    Column("credential", LargeBinary(), nullable=False),
    Column("status", String(24), nullable=False),
    Column("status_reason", Text()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("last_event_at", UtcDateTime()),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("extension_id", String(32), primary_key=True),
    Column("access_token", LargeBinary()),
    Column("access_expires_at", UtcDateTime()),
    Column("refresh_token", LargeBinary()),
    Column("refresh_expires_at", UtcDateTime()),
    Column("refreshed_at", UtcDateTime()),
    Column("generation", Integer(), nullable=False),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("extension_id", String(32), primary_key=True),
    Column("subscription_id", String(64)),
    Column("status", String(24)),
    Column("expires_at", UtcDateTime()),
    Column("webhook_url", String(1024)),
    Column("event_filters", Text()),
    Column("last_renewed_at", UtcDateTime()),
    Column("last_checked_at", UtcDateTime()),
    Column("last_error", Text()),
    Column("failures", Integer(), nullable=False),
    Column("renew_requested", Boolean(), nullable=False),
    Column("next_due_at", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_webhook_subscriptions_due", "next_due_at"),
    Index("ix_webhook_subscriptions_subscription_id", "subscription_id"),
)

# Hashes of the Verification-Tokens we gave RingCentral; subscription_id is NULL while the
# create call is in flight, so the first notifications of a new subscription verify too.
webhook_tokens = Table(
    "webhook_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("extension_id", String(32), nullable=False),
    Column("subscription_id", String(64)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("retired_at", UtcDateTime()),
)

# RingCentral's extension directory (id -> kind), which sharpens classification.
directory_entries = Table(
    "directory_entries",
    metadata,
    Column("extension_id", String(32), primary_key=True),
    Column("name", String(255)),
    Column("extension_number", String(32)),
    Column("kind", String(32)),
    Column("synced_at", UtcDateTime(), nullable=False),
)

# RingCentral's call log, the second raw source: the latest version of every record as received
# (`payload`) and the keys the processor links it by (`session_key`: its telephonySessionId, else
# `session:<sessionId>`, else `record:<id>`; `session_id`: the older id some records carry
# alone). `digest` is the SHA-256 of the record without its `uri` (which differs between the
# account's and an extension's view of the same record).
call_log_records = Table(
    "call_log_records",
    metadata,
    Column("record_id", String(128), primary_key=True),
    Column("telephony_session_id", String(128)),
    Column("session_id", String(64)),
    Column("session_key", String(200), nullable=False),
    Column("owner_extension_id", String(32)),
    Column("fetched_by", String(32), nullable=False),
    Column("start_time", UtcDateTime()),
    Column("last_modified_time", UtcDateTime()),
    Column("result", String(64)),
    Column("final", Boolean(), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("payload", Text(), nullable=False),
    Column("versions", Integer(), nullable=False),
    Column("first_seen_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_call_log_records_session_key", "session_key"),
    Index("ix_call_log_records_legacy", "session_id"),
    Index(
        "ix_call_log_records_open",
        "fetched_by",
        "start_time",
        postgresql_where=text("NOT final"),
        sqlite_where=text("NOT final"),
    ),
)

# Records new or changed since the processor last took them into the outcomes: a narrow queue,
# so marking a claim done deletes small rows instead of rewriting wide ones. `queued_at` moves
# when a record changes again, and only the version that was claimed is dequeued.
call_log_pending = Table(
    "call_log_pending",
    metadata,
    Column("record_id", String(128), primary_key=True),
    Column("queued_at", UtcDateTime(), nullable=False),
    Index("ix_call_log_pending_queued", "queued_at"),
)

# Every distinct version of every record ever fetched (an In Progress one, then the final one).
call_log_record_versions = Table(
    "call_log_record_versions",
    metadata,
    Column("record_id", String(128), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("fetched_at", UtcDateTime(), nullable=False),
    Column("payload", Text(), nullable=False),
)

# Where each credential's call-log sync stands, and its lease (replicas share the work).
call_log_sync = Table(
    "call_log_sync",
    metadata,
    Column("extension_id", String(32), primary_key=True),
    Column("synced_through", UtcDateTime()),
    Column("next_due_at", UtcDateTime(), nullable=False),
    Column("lease_until", UtcDateTime()),
    Column("failures", Integer(), nullable=False),
    Column("last_error", Text()),
    Column("last_attempt_at", UtcDateTime()),
    Column("last_synced_at", UtcDateTime()),
    Column("records_stored", BigInteger(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_call_log_sync_due", "next_due_at"),
)

# Stats rollups (migration 0007, service/rollups/): one row per UTC slice (`slice_s` 900, 3600
# or 86400 seconds from `slice_start`, seconds since the epoch), dimension (`all`, `queue`,
# `extension`) and key (a queue name or extension id; NULL for `all` and calls with no queue),
# its summary as JSON (`service.rollups.tally`). Written only by the refresher, which replaces a
# slice's rows whole.
stats_rollups = Table(
    "stats_rollups",
    metadata,
    Column("slice_s", Integer(), nullable=False),
    Column("slice_start", BigInteger(), nullable=False),
    Column("dim", String(16), nullable=False),
    Column("key", String(255)),
    Column("content", Text(), nullable=False),
    Index("ix_stats_rollups_slice", "slice_s", "slice_start", "dim"),
)

# Quarter slices whose calls changed since their rollups were computed: the processor adds a row
# in the transaction that writes the calls; the refresher deletes the rows it read (by id) in the
# transaction that writes the new rollups, so a mark added meanwhile stays.
stats_rollup_marks = Table(
    "stats_rollup_marks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("slice_start", BigInteger(), nullable=False),
    Index("ix_stats_rollup_marks_slice", "slice_start"),
)

# Bearer keys of the query API. Only the SHA-256 of a key is stored; `prefix` (the first
# characters of the key) lets people tell their keys apart in `callsift api-keys list`.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
    Column("last_used_at", UtcDateTime()),
)

# The query API's statistics read only these columns (migration 0003). With all of them in the
# index, PostgreSQL answers a day's report from the index alone instead of visiting the wide
# outcome rows. A leg carries its call's `started_at`, so both indexes are read in the same order
# and merge-joined for the per-extension report.
Index(
    "ix_call_outcomes_stats",
    call_outcomes.c.started_at,
    call_outcomes.c.telephony_session_id,
    call_outcomes.c.final,
    call_outcomes.c.direction,
    call_outcomes.c.category,
    call_outcomes.c.wait_s,
    call_outcomes.c.time_to_abandon_s,
    call_outcomes.c.queue,
    call_outcomes.c.reconciliation,  # migration 0005
)
Index(
    "ix_call_legs_started",
    call_legs.c.started_at,
    call_legs.c.telephony_session_id,
    call_legs.c.extension_id,
    call_legs.c.outcome,  # the agents' leg counts (migration 0008)
)
