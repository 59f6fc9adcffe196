"""The scenario engine: scripted calls of every outcome, each with its ground truth.

Importing this package registers every kind (`KINDS`); `build_call` scripts one call.
"""

from emulator.scenarios import inbound, outbound, queues, transfers
from emulator.scenarios.builder import ScenarioError, Topology
from emulator.scenarios.model import GeneratedCall, SessionTruth
from emulator.scenarios.registry import KINDS, ScenarioKind, build_call, mix_kinds, scenario_kind

__all__ = [
    "KINDS",
    "GeneratedCall",
    "ScenarioError",
    "ScenarioKind",
    "SessionTruth",
    "Topology",
    "build_call",
    "inbound",
    "mix_kinds",
    "outbound",
    "queues",
    "scenario_kind",
    "transfers",
]
