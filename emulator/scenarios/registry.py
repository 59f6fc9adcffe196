"""The catalogue of scenario kinds, each with the ground truth it promises, and `build_call`."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from classifiers.outcome import Category, Direction, Stage
from emulator.config import SessionIdStyle
from emulator.ids import Ids
from emulator.scenarios.builder import CallBuilder, CallContext, ScenarioError, Topology
from emulator.scenarios.model import Expect, GeneratedCall

Script = Callable[[CallBuilder], None]


@dataclass(frozen=True, slots=True)
class ScenarioKind:
    name: str
    script: Script
    expect: Expect
    needs: frozenset[str]
    weight: float  # relative frequency in the "mix"
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "description": self.description,
            "truth": self.expect.as_dict(),
            "needs": sorted(self.needs),
            "mixWeight": self.weight,
        }


KINDS: dict[str, ScenarioKind] = {}


def kind(
    name: str,
    *,
    category: Category,
    direction: Direction = Direction.INBOUND,
    reason: str | None = None,
    stage: Stage | None = None,
    needs: tuple[str, ...] = ("user",),
    evidence: tuple[str, ...] = (),
    weight: float = 1.0,
) -> Callable[[Script], Script]:
    """Register a scenario script under `name` with its expected outcome."""

    def register(script: Script) -> Script:
        if name in KINDS:
            msg = f"scenario kind {name!r} registered twice"
            raise ValueError(msg)
        KINDS[name] = ScenarioKind(
            name=name,
            script=script,
            expect=Expect(direction, category, reason, stage, evidence),
            needs=frozenset(needs),
            weight=weight,
            description=_first_paragraph(script.__doc__ or name),
        )
        return script

    return register


def _first_paragraph(doc: str) -> str:
    return " ".join(line.strip() for line in doc.strip().split("\n\n")[0].splitlines())


def scenario_kind(name: str) -> ScenarioKind:
    try:
        return KINDS[name]
    except KeyError:
        msg = f"unknown scenario kind {name!r}; known: {', '.join(sorted(KINDS))}"
        raise ScenarioError(msg) from None


def build_call(
    name: str,
    topology: Topology,
    *,
    seed: int | str,
    start: datetime,
    style: SessionIdStyle = "mixed",
    regulars: Sequence[str] = (),
) -> GeneratedCall:
    """Script one call of kind `name` starting at `start`; the same seed gives the same call.
    `regulars`: outside numbers that call again (see `Ids`)."""
    spec = scenario_kind(name)
    if lacks := topology.missing(spec.needs):
        msg = f"scenario {name} needs {', '.join(lacks)} in account {topology.account.id}"
        raise ScenarioError(msg)
    rng = random.Random(f"{seed}:{name}")
    builder = CallBuilder(
        name, spec.expect, CallContext(rng, Ids(rng, regulars=regulars), topology, start, style)
    )
    spec.script(builder)
    return builder.build()


def mix_kinds(rng: random.Random, count: int, topology: Topology) -> list[str]:
    """`count` kinds drawn by weight among those the account can play."""
    playable = [k for k in KINDS.values() if not topology.missing(k.needs)]
    if not playable:
        msg = "the account can play no scenario (it needs at least one User extension)"
        raise ScenarioError(msg)
    return rng.choices([k.name for k in playable], weights=[k.weight for k in playable], k=count)
