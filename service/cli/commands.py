"""The command table: each command's name, one-line summary and the module that holds it.

A command's module (with the app, the database layer or the emulator behind it) is imported only
when that command runs or its own help is asked for, so `callsift --help` stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import ClassVar

import typer

# typer (from 0.29) carries its own click; commands and contexts are of its classes.
from typer import _click as click
from typer.core import TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """A command (a function) or a group of them (a `typer.Typer`) at `module:attribute`."""

    name: str
    module: str
    attribute: str
    summary: str

    def load(self) -> click.Command:
        """Import the command and build it as it would be built inside the top-level group."""
        target = getattr(importlib.import_module(self.module), self.attribute)
        holder = typer.Typer(rich_markup_mode=None, add_completion=False)
        holder.callback()(_no_options)
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=self.name)
        else:
            holder.command(name=self.name)(target)
        group = typer.main.get_command(holder)
        assert isinstance(group, TyperGroup)
        return group.commands[self.name]


def _no_options() -> None:
    """The holder's callback, there only so that typer builds it as a group."""


COMMANDS = (
    LazyCommand(
        "run",
        "service.cli.run",
        "run",
        "Run the service: webhook ingest and its workers, on the embedded SQLite default.",
    ),
    LazyCommand(
        "classify",
        "service.cli.classify",
        "classify",
        "Classify RingCentral notification dumps (and call-log records) offline; one outcome per "
        "call, as JSON Lines.",
    ),
    LazyCommand(
        "reclassify",
        "service.cli.reclassify",
        "reclassify",
        "Re-run the classifier over stored events and call-log records with the current "
        "thresholds and rules.",
    ),
    LazyCommand(
        "demo",
        "service.cli.demo",
        "demo",
        "Play simulated calls end to end and check every outcome against the ground truth.",
    ),
    LazyCommand(
        "emulator",
        "service.cli.emulator",
        "emulator",
        "Run the RingCentral platform emulator (OAuth, subscriptions, webhooks, call scenarios).",
    ),
    LazyCommand("db", "service.cli.database", "app", "Database commands."),
    LazyCommand("api-keys", "service.cli.apikeys", "app", "API keys of the query API (/v1)."),
    LazyCommand(
        "extensions",
        "service.cli.ringcentral",
        "extensions_app",
        "Monitored extensions and their JWT credentials.",
    ),
    LazyCommand(
        "subscriptions",
        "service.cli.ringcentral",
        "subscriptions_app",
        "Webhook subscriptions at RingCentral.",
    ),
    LazyCommand(
        "secrets",
        "service.cli.ringcentral",
        "secrets_app",
        "Encryption keys of stored credentials.",
    ),
    LazyCommand(
        "calllog", "service.cli.calllog", "app", "RingCentral's call log: the record of every call."
    ),
)


class LazyGroup(TyperGroup):
    """The top-level group: lists `COMMANDS` from the table, imports one only to run it."""

    lazy_commands: ClassVar[dict[str, LazyCommand]] = {c.name: c for c in COMMANDS}

    def list_commands(self, ctx: click.Context) -> list[str]:
        loaded = super().list_commands(ctx)
        return [*loaded, *(name for name in self.lazy_commands if name not in loaded)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.commands[cmd_name] = self.lazy_commands[cmd_name].load()
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(command.name, command.summary) for command in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
