"""Memory: the service's peak RSS during a 60-second saturation run.

`callsift run` on PostgreSQL as deployed (processor on) takes wrk at saturation for 60 seconds;
the report gives the kernel's high-water mark of its resident set (VmHWM, which includes start-up)
and the RSS sampled every second, and the high-water mark of the processor's own process.

    python -m bench.memory [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from typing import Any

import orjson

from bench.harness import (
    DEFAULT_POSTGRES_URL,
    TMP,
    Server,
    callsift_command,
    callsift_env,
    create_database,
    drop_database,
    log,
    run_wrk,
    running,
    wait_for_quiet,
)
from bench.payloads import ingest_templates

MIB = 1024 * 1024


def run(*, admin_url: str = DEFAULT_POSTGRES_URL, seconds: float = 60) -> dict[str, Any]:
    templates = ingest_templates(TMP)
    url = asyncio.run(create_database(admin_url, "memory"))
    try:
        env = callsift_env(url, processor=True)
        server = Server("callsift-memory", callsift_command(), env=env, database_url=url)
        with running(server):
            start_rss = server.rss_bytes()
            wait_for_quiet()
            samples: list[int] = []
            done = threading.Event()

            def sample() -> None:
                while not done.wait(1.0):
                    samples.append(server.rss_bytes())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            log(f"memory: {seconds:g} s of saturation on callsift (PostgreSQL, processor on)")
            load = run_wrk(server.webhook_url, templates, seconds=seconds)
            done.set()
            sampler.join()
            peak = server.peak_rss_bytes()
            processor_peak = server.children_peak_rss_bytes()
            after = server.rss_bytes()
    finally:
        asyncio.run(drop_database(admin_url, url))
    return {
        "seconds": seconds,
        "rps": load["rps"],
        "errors": load["errors"],
        "rss_at_start_mib": start_rss / MIB,
        "peak_rss_mib": peak / MIB,
        "processor_process_peak_rss_mib": processor_peak / MIB,
        "max_sampled_rss_mib": max(samples, default=after) / MIB,
        "rss_after_mib": after / MIB,
        "rss_samples_mib": [round(s / MIB, 1) for s in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    print(orjson.dumps(run(seconds=args.seconds), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
