"""The bench's disk figures (bench.disk): a burst shows as the largest second, not the mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import disk
from bench.disk import SECTOR_BYTES, device_of, writes_figures, written_sectors

MB = 2**20 // SECTOR_BYTES  # sectors in a megabyte


def test_a_burst_is_the_largest_second_and_the_mean_spreads_it() -> None:
    # 5 s sampled every 0.1 s: 1 MB a sample, except 120 MB written within one 0.3 s stretch
    steps = [MB] * 50
    steps[20:23] = [40 * MB] * 3
    samples = [0]
    for step in steps:
        samples.append(samples[-1] + step)
    figures = writes_figures(samples, 0.1)
    assert figures["disk_written_mb"] == pytest.approx(47 + 120)
    assert figures["disk_mean_mb_per_s"] == pytest.approx((47 + 120) / 5)
    assert figures["disk_peak_mb_per_s"] == pytest.approx(120 + 7)


def test_a_run_shorter_than_a_second_is_measured_over_what_it_has() -> None:
    figures = writes_figures([0, 2 * MB, 4 * MB], 0.1)
    assert figures["disk_peak_mb_per_s"] == pytest.approx(20)


def test_too_few_samples_give_no_figures() -> None:
    assert writes_figures([5], 0.1) == {}


def test_the_written_sectors_are_read_for_the_device_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = tmp_path / "diskstats"
    stats.write_text(
        " 253       0 vda 60 0 4100 20 9000 300 777001 5000 0 900 5100 0 0 0 0 40 10\n"
        " 253       1 vda1 50 0 4000 18 8000 200 666001 4000 0 800 4100 0 0 0 0 0 0\n"
    )
    monkeypatch.setattr(disk, "DISKSTATS", stats)
    assert written_sectors("vda") == 777001
    assert written_sectors("vda1") == 666001
    assert written_sectors("sdb") is None


def test_a_path_that_does_not_exist_has_no_device() -> None:
    assert device_of("/nonexistent/callsift/path") is None
