"""`callsift emulator`: run the RingCentral emulator on its own (see docs/emulator.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from emulator.app import run as run_emulator


def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 9000,
    seed: Annotated[int, typer.Option(help="Seed of every id, token and scenario.")] = 0,
    demo: Annotated[
        bool, typer.Option(help="Start with an app and a demo account (users, a queue, an IVR).")
    ] = False,
) -> None:
    """Run the RingCentral platform emulator (OAuth, subscriptions, webhooks, call scenarios)."""
    run_emulator(host, port, seed, demo=demo)
