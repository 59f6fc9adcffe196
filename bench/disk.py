"""What the disk under PostgreSQL wrote during a measured run (Linux `/proc/diskstats`).

A commit waits for its WAL's fsync, and an fsync waits behind whatever else the disk is writing.
The kernel writes the data files' dirty pages back in bursts (every `dirty_writeback_centisecs`,
the pages older than `dirty_expire_centisecs`), so a run's slowest commits line up with its
largest second of writes rather than with its average. `DiskWrites` samples the device's
written-sectors counter every SAMPLE_S and reports the total and that largest second.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

DISKSTATS = Path("/proc/diskstats")
SAMPLE_S = 0.1
WINDOW_SAMPLES = 10  # the largest second: ten samples
SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's own size


def device_of(path: str) -> str | None:
    """The block device (as /proc/diskstats names it) holding `path`, or None where it cannot
    be told (not on this machine, not Linux)."""
    try:
        device = os.stat(path).st_dev
        uevent = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}/uevent")
        fields = dict(line.split("=", 1) for line in uevent.read_text().splitlines() if "=" in line)
    except OSError:
        return None
    name = fields.get("DEVNAME")
    return name if name and written_sectors(name) is not None else None


def written_sectors(device: str) -> int | None:
    """The device's sectors written so far (the seventh statistic after its name)."""
    try:
        lines = DISKSTATS.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 9 and fields[2] == device:
            return int(fields[9])
    return None


class DiskWrites:
    """Samples a device's writes in a thread while the `with` block runs; `figures()` after."""

    def __init__(self, device: str) -> None:
        self._device = device
        self._samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="disk-writes", daemon=True)

    def __enter__(self) -> DiskWrites:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        next_at = time.monotonic()
        while True:
            sectors = written_sectors(self._device)
            if sectors is not None:
                self._samples.append(sectors)
            next_at += SAMPLE_S
            if self._stop.wait(max(0.0, next_at - time.monotonic())):
                return

    def figures(self) -> dict[str, Any]:
        return writes_figures(self._samples, SAMPLE_S)


def writes_figures(samples: list[int], sample_s: float) -> dict[str, Any]:
    """MB written in all, per second on average, and in the largest second (a window of
    WINDOW_SAMPLES samples), from a written-sectors counter read every `sample_s`."""
    if len(samples) < 2:
        return {}
    span = min(WINDOW_SAMPLES, len(samples) - 1)
    peak = max(samples[i + span] - samples[i] for i in range(len(samples) - span))
    written_mb = (samples[-1] - samples[0]) * SECTOR_BYTES / 2**20
    return {
        "disk_written_mb": written_mb,
        "disk_mean_mb_per_s": written_mb / ((len(samples) - 1) * sample_s),
        "disk_peak_mb_per_s": peak * SECTOR_BYTES / 2**20 / (span * sample_s),
    }
