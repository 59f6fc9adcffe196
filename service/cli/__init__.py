"""The `callsift` command line: the composition root that reads settings and starts things."""

from __future__ import annotations

import sys
from importlib.metadata import version as package_version
from typing import Annotated

import typer

from service.cli.commands import LazyGroup

app = typer.Typer(
    cls=LazyGroup,
    help="callsift: RingCentral call events in, trustworthy call outcomes out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from classifiers import RULES_VERSION

        typer.echo(f"callsift {package_version('callsift')} (classification rules {RULES_VERSION})")
        raise typer.Exit


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error.")
    ] = False,
) -> None:
    """callsift: RingCentral call events in, trustworthy call outcomes out."""


def main() -> None:
    """Run the command; an unexpected error is one line (exit 1), its traceback only with
    `callsift --debug <command>`. Expected problems (bad input or configuration) exit 2."""
    try:
        app()
    except Exception as exc:
        if "--debug" in sys.argv[1:]:
            raise
        typer.echo(
            f"callsift: error: {type(exc).__name__}: {exc} (run `callsift --debug ...` for the "
            "traceback)",
            err=True,
        )
        sys.exit(1)
