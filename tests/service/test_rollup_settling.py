"""The rollup refresher's choice of quarters (service.rollups.settling): a quarter is recomputed
once a pass finds no new mark on it, or once it has waited the longest it may."""

from __future__ import annotations

from service.rollups.queries import PendingQuarter
from service.rollups.settling import Settling

Q1, Q2 = 1_800_000_000, 1_800_000_900


def test_a_quarter_is_ready_once_a_pass_finds_no_new_mark() -> None:
    settling = Settling(most_deferred_s=300)
    assert settling.ready([PendingQuarter(Q1, 7), PendingQuarter(Q2, 9)], now=0) == []
    assert settling.ready([PendingQuarter(Q1, 7), PendingQuarter(Q2, 12)], now=2) == [Q1]
    assert settling.ready([PendingQuarter(Q2, 12)], now=4) == [Q2]


def test_a_quarter_written_without_a_pause_waits_the_longest_it_may() -> None:
    settling = Settling(most_deferred_s=10)
    newest = 100
    for now in range(0, 10, 2):
        newest += 5
        assert settling.ready([PendingQuarter(Q1, newest)], now=now) == []
    assert settling.ready([PendingQuarter(Q1, newest + 5)], now=10) == [Q1]


def test_a_quarter_marked_again_after_it_was_ready_waits_again() -> None:
    settling = Settling(most_deferred_s=300)
    settling.ready([PendingQuarter(Q1, 3)], now=0)
    assert settling.ready([PendingQuarter(Q1, 3)], now=2) == [Q1]
    # recomputed, then written to again: a new mark, first seen by this pass
    assert settling.ready([PendingQuarter(Q1, 40)], now=400) == []
    assert settling.ready([PendingQuarter(Q1, 40)], now=402) == [Q1]


def test_a_quarter_no_longer_pending_is_forgotten() -> None:
    settling = Settling(most_deferred_s=300)
    settling.ready([PendingQuarter(Q1, 3)], now=0)
    settling.ready([], now=2)  # another replica's refresher took it
    assert settling.ready([PendingQuarter(Q1, 3)], now=4) == []
