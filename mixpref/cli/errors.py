"""How the CLI reports failures.

A user's mistake (bad path, malformed or truncated data, bad option value: a
:class:`~mixpref.DataError` and the file-system errors) prints one line on stderr and exits
with code 2. Anything else raised from inside mixpref (a bare ``ValueError``,
``KeyError``, ``IndexError``, ...) is a bug, not the user's fault: it prints the error,
where it was raised and how to see the full traceback, and exits with code 1.
Set ``MIXPREF_DEBUG=1`` to get the full traceback of either.
"""

from __future__ import annotations

import functools
import gzip
import os
import sys
import traceback
import zlib

import click
import typer

from ..errors import DataError

# exceptions that mean "the user asked for something wrong", not "mixpref is broken";
# EOFError / BadGzipFile / zlib.error come from a truncated or corrupt .gz file
USER_ERRORS = (
    DataError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
    EOFError, gzip.BadGzipFile, zlib.error,
)
# click's own exceptions (usage errors, Exit, Abort) are click's to report; typer may ship
# its own copy of click, so both copies' classes are listed
_CLICK_BASE = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
PASS_THROUGH = (typer.Exit, typer.Abort, _CLICK_BASE, click.exceptions.Exit, click.exceptions.Abort, click.ClickException)
USER_EXIT = 2
BUG_EXIT = 1
DEBUG_ENV = "MIXPREF_DEBUG"


def _first_line(err) -> str:
    text = str(err).strip()
    if isinstance(err, KeyError) and len(err.args) == 1:
        text = str(err.args[0])
    return text.splitlines()[0] if text else type(err).__name__


def _where(err) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (raised at {os.path.relpath(last.filename) if not last.filename.startswith('<') else last.filename}:{last.lineno} in {last.name})"


def report(err) -> int:
    """Print ``err`` the CLI's way and return the exit code (2: user mistake, 1: internal bug)."""
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    if isinstance(err, USER_ERRORS):
        typer.echo(f"mixpref: error: {_first_line(err)}", err=True)
        return USER_EXIT
    typer.echo(
        f"mixpref: internal error: {type(err).__name__}: {_first_line(err)}{_where(err)}\n"
        f"This is a bug in mixpref, not a problem with your input. Rerun with {DEBUG_ENV}=1 for the full "
        "traceback and report it.",
        err=True,
    )
    return BUG_EXIT


def user_errors(func):
    """Decorate a command: a user error becomes ``mixpref: error: <message>`` and exit 2, a bug exit 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PASS_THROUGH:
            raise
        except KeyboardInterrupt:
            typer.echo("mixpref: interrupted", err=True)
            raise typer.Exit(code=130) from None
        except Exception as err:  # every failure gets one of two clear reports
            raise typer.Exit(code=report(err)) from None

    return wrapper


def run_app(app, argv=None):
    """Run ``app`` on ``argv`` and return its exit code instead of exiting."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exit_:
        return exit_.code
    return 0
