"""Who a stats group is, and what an agent's legs did (pure functions, used by the stats report).

- `name` and `extension_number` come from the synced directory: an extension or agent group by
  its extension id; a queue group by its name (the queue name a call carries is the one the
  directory or RingCentral's `QueueName` gives), matched case-insensitively to a `Department`
  entry; a queue the directory does not know keeps the name its calls carry, with no number.
- An agent's legs: her legs on the calls of the group, counted per leg outcome (every kind, zero
  when none); `offered` is all of them, and the miss rate is `missed / offered`
  (docs/outcomes.md, "Agent figures").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from classifiers.outcome import ExtensionKind, LegOutcomeKind
from service.api.stats_queries import LEG_OUTCOMES
from service.ringcentral.queries import DirectoryRow

MISSED = LegOutcomeKind.MISSED.value
QUEUE_KIND = ExtensionKind.DEPARTMENT.value


@dataclass(frozen=True, slots=True)
class Who:
    name: str | None = None
    extension_number: str | None = None

    def fields(self) -> dict[str, str | None]:
        return {"name": self.name, "extension_number": self.extension_number}


NOBODY = Who()


@dataclass(frozen=True, slots=True)
class Directory:
    """The directory as the report reads it: by extension id, and queues by folded name."""

    by_id: Mapping[str, Who]
    queues: Mapping[str, Who]

    @classmethod
    def of(cls, rows: Iterable[DirectoryRow]) -> Directory:
        by_id: dict[str, Who] = {}
        queues: dict[str, Who] = {}
        for row in rows:
            who = Who(row.name, row.extension_number)
            by_id[row.extension_id] = who
            if row.kind == QUEUE_KIND and row.name:
                queues.setdefault(row.name.casefold(), who)
        return cls(by_id, queues)

    def who(self, group_by: str, key: Any) -> Who:
        if key is None:
            return NOBODY
        if group_by in ("extension", "agent"):
            return self.by_id.get(str(key), NOBODY)
        if group_by == "queue":
            return self.queues.get(str(key).casefold(), Who(str(key)))
        return NOBODY


def agent_legs(outcomes: Mapping[str, int] | None) -> dict[str, Any]:
    """An agent's legs (schema `AgentLegs`)."""
    counts = dict.fromkeys(LEG_OUTCOMES, 0) | dict(outcomes or {})
    offered = sum(counts.values())
    return {
        "offered": offered,
        "outcomes": counts,
        "miss_rate": counts[MISSED] / offered if offered else None,
    }


def all_agents_legs(per_agent: Iterable[Mapping[str, int]]) -> dict[str, Any]:
    """Every agent's legs together (the totals of an agent report)."""
    summed = dict.fromkeys(LEG_OUTCOMES, 0)
    for outcomes in per_agent:
        for kind, count in outcomes.items():
            summed[kind] = summed.get(kind, 0) + count
    return agent_legs(summed)
