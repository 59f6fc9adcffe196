"""Turn raw group aggregates into the reported metrics (pure functions, shared by the stats report
and the poll summary, so both use the same definitions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.api.stats_queries import HISTOGRAM_EDGES, GroupAggregate


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def histogram(counts: list[int]) -> list[dict[str, Any]]:
    uppers: list[float | None] = [*HISTOGRAM_EDGES[1:], None]
    return [
        {"from_s": low, "to_s": high, "count": count}
        for low, high, count in zip(HISTOGRAM_EDGES, uppers, counts, strict=True)
    ]


def rates(group: GroupAggregate) -> dict[str, Any]:
    """Counts, abandon rates and the time-to-abandon histogram."""
    long_, short = group.long_abandons, group.short_abandons
    return {
        "offered": group.offered,
        "answered": group.answered,
        "abandoned": long_ + short,
        "long_abandons": long_,
        "short_abandons": short,
        "abandon_rate": _ratio(long_, group.offered - short),
        "abandon_rate_gross": _ratio(long_ + short, group.offered),
        "time_to_abandon_histogram": histogram(group.histogram),
    }


def _average_speed_of_answer(group: GroupAggregate) -> float | None:
    if not group.wait_count:
        return None
    return group.wait_sum_us / group.wait_count / 1_000_000


def describe(
    group: GroupAggregate, key: str | None, bounds: tuple[datetime, datetime] | None
) -> dict[str, Any]:
    """One group of the stats report (schema `OutcomeStats`); who it is and an agent's legs are
    added by the report (`service.api.groups`)."""
    return {
        "key": key,
        "name": None,
        "extension_number": None,
        "start": bounds[0].isoformat() if bounds else None,
        "end": bounds[1].isoformat() if bounds else None,
        **rates(group),
        "answered_within_sla": group.answered_within_sla,
        "service_level": _ratio(
            group.answered_within_sla,
            group.answered - group.answered_wait_unknown + group.long_abandons,
        ),
        "average_speed_of_answer_s": _seconds(_average_speed_of_answer(group)),
        "time_to_abandon_p50_s": _seconds(group.tta_percentiles.get(0.5)),
        "time_to_abandon_p90_s": _seconds(group.tta_percentiles.get(0.9)),
        "time_to_abandon_max_s": _seconds(group.tta_max),
        "categories": group.categories,
        "reconciliation": group.reconciliation,
        "agreement_rate": _ratio(
            group.reconciliation.get("agreed", 0),
            group.reconciliation.get("agreed", 0)
            + group.reconciliation.get("call_log_corrected", 0),
        ),
        "legs": None,
    }
