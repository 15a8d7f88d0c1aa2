"""The ``mixpref`` command.

Each stage registers its commands from its own module (``mixpref/cli/<stage>.py`` with a
``register(app)`` function), so commands import only what they use, when they run. The
commands are plain functions (``mixpref.cli.models.fit_command``, ...) that Python code and
tests call directly; typer wraps them. A user's mistake (bad path, malformed data, unknown
option value) prints one line and exits with code 2, never a traceback; an internal bug
prints a short hint and exits with code 1 (see :mod:`mixpref.cli.errors`).
"""

from __future__ import annotations

import importlib
import sys

import typer

from .._version import __version__

app = typer.Typer(
    name="mixpref",
    help="Fit heterogeneous preference models, aggregate them with social-choice rules, export DPO targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# modules under mixpref/cli/ that define register(app); a missing one is skipped so that a
# stage under construction never breaks the others
_COMMAND_MODULES = ["data", "embed", "models", "adapt", "aggregate", "audit", "suggest", "export", "study", "demo"]


def _version_callback(value: bool):
    if value:
        typer.echo(f"mixpref {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
):
    """mixpref: who prefers what, and what to do about it."""


for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{_name}":
            raise
        continue
    _module.register(app)


def main(argv=None):
    """Run the CLI on ``argv``; returns the exit code (0 ok, 2 the user's mistake, 1 a bug)."""
    from .errors import run_app

    return run_app(app, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
