"""The `callsift` command line: the composition root that reads settings and starts things."""

from __future__ import annotations

import typer

from service.cli import (
    apikeys,
    calllog,
    classify,
    database,
    demo,
    emulator,
    reclassify,
    ringcentral,
    run,
)

app = typer.Typer(
    help="callsift: RingCentral call events in, trustworthy call outcomes out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(database.app, name="db")
app.add_typer(apikeys.app, name="api-keys")
app.add_typer(ringcentral.extensions_app, name="extensions")
app.add_typer(ringcentral.subscriptions_app, name="subscriptions")
app.add_typer(ringcentral.secrets_app, name="secrets")
app.add_typer(calllog.app, name="calllog")
app.command()(run.run)
app.command()(classify.classify)
app.command()(reclassify.reclassify)
app.command()(demo.demo)
app.command()(emulator.emulator)


def main() -> None:
    app()
