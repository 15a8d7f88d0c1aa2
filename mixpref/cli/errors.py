"""How the CLI reports a user's mistake: one line on stderr, exit code 2."""

from __future__ import annotations

import functools

import typer

from ..errors import DataError

# exceptions that mean "the user asked for something wrong", not "mixpref is broken"
USER_ERRORS = (DataError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, ValueError, KeyError)


def user_errors(func):
    """Decorate a command: a user error becomes ``mixpref: error: <message>`` and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            typer.echo(f"mixpref: error: {message}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def run_app(app, argv=None):
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exit_:
        return exit_.code
    return 0

