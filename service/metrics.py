"""Prometheus metrics of one service instance, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from service.webhooks.writer import BatchReport

BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_received = Counter(
            "callsift_events_received",
            "Webhook notifications stored for the first time, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.events_duplicate = Counter(
            "callsift_events_duplicate",
            "Webhook notifications whose uuid was already stored.",
            registry=self.registry,
        )
        self.events_quarantined = Counter(
            "callsift_events_quarantined",
            "Authenticated webhook bodies that could not be read, kept in quarantine.",
            registry=self.registry,
        )
        self.webhook_rejected = Counter(
            "callsift_webhook_rejected",
            "Webhook requests refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.ingest_batches = Histogram(
            "callsift_ingest_batch_size",
            "Rows per group commit.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.ingest_failed_batches = Counter(
            "callsift_ingest_failed_batches",
            "Group commits that failed (every request in them got 503).",
            registry=self.registry,
        )

    def record_batch(self, report: BatchReport) -> None:
        if report.failed:
            self.ingest_failed_batches.inc()
            return
        self.ingest_batches.observe(report.size)
        if report.duplicates:
            self.events_duplicate.inc(report.duplicates)
        if report.quarantined:
            self.events_quarantined.inc(report.quarantined)
