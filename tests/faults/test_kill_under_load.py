"""kill -9 under load, with a ledger: `callsift run` is SIGKILLed while 24 connections post a few
thousand notifications (after 600 answers 200). Restarted on the same database with nothing
resent, it has stored every notification it answered 200, exactly once, and nothing it was not
sent; it answers 200 again; and once its processor has drained, every stored session has exactly
one outcome. SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

from tests.faults.support import (
    Ledger,
    build_calls,
    callsift_run,
    database,
    drained,
    in_delivery_order,
    outcomes_per_session,
    post_with_ledger,
    report,
    stored_sessions,
    stored_uuid_counts,
    uuid_of,
)

CALLS = 400  # 4,000 notifications
CONNECTIONS = 24
KILL_AFTER_ACKNOWLEDGED = 600
SENT_AFTER_RESTART = 240  # new notifications, the next ones of the stream: none is resent


async def test_what_was_acknowledged_before_a_kill_is_stored_once_and_processed(
    database_url: str, tmp_path: Path
) -> None:
    notifications = in_delivery_order(build_calls(CALLS, tag=f"kill-{uuid.uuid4().hex[:8]}"))
    before_kill = Ledger()
    async with callsift_run(database_url, tmp_path, "killed") as killed:
        await post_with_ledger(
            killed.base_url,
            notifications,
            before_kill,
            connections=CONNECTIONS,
            stop_when=lambda ledger: len(ledger.acknowledged) >= KILL_AFTER_ACKNOWLEDGED,
            on_stop=killed.send_kill,
        )
        assert killed.kill() == -signal.SIGKILL
    sent = set(before_kill.sent)
    acknowledged = set(before_kill.acknowledged)
    assert len(sent) == len(before_kill.sent)  # each notification sent once, none resent
    assert len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED
    assert len(sent) < len(notifications)  # killed mid-stream: some were never sent

    unsent = [n for n in notifications if uuid_of(n) not in sent][:SENT_AFTER_RESTART]
    after_restart = Ledger()
    async with (
        callsift_run(database_url, tmp_path, "restarted") as restarted,
        database(database_url) as engine,
    ):
        stored_at_restart = await stored_uuid_counts(engine)
        figures = (
            f"sent {len(sent)} of {len(notifications)} before the kill, "
            f"{len(acknowledged)} acknowledged (200), {len(before_kill.unanswered)} unanswered, "
            f"statuses {dict(before_kill.statuses())}; "
            f"{len(stored_at_restart)} stored at restart "
            f"({len(stored_at_restart.keys() - acknowledged)} of them never acknowledged)"
        )
        lost = acknowledged - stored_at_restart.keys()
        assert not lost, f"{len(lost)} acknowledged notifications lost; {figures}"
        assert set(stored_at_restart.values()) == {1}, figures
        assert stored_at_restart.keys() <= sent, figures  # nothing stored that was not sent

        await post_with_ledger(restarted.base_url, unsent, after_restart, connections=CONNECTIONS)
        assert after_restart.statuses() == {200: len(unsent)}, after_restart.statuses()
        stored = await stored_uuid_counts(engine)
        everything_acknowledged = acknowledged | set(after_restart.acknowledged)
        assert everything_acknowledged <= stored.keys()
        assert set(stored.values()) == {1}

        await drained(engine)
        sessions = await stored_sessions(engine)
        outcomes = await outcomes_per_session(engine)
    assert outcomes.keys() == sessions
    assert set(outcomes.values()) == {1}
    report(
        f"kill -9 under load: {figures}; after the restart {len(unsent)} more sent, "
        f"{len(after_restart.acknowledged)} acknowledged; {len(stored)} stored in all, "
        f"{len(sessions)} sessions, {sum(outcomes.values())} outcomes"
    )
