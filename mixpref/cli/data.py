"""``mixpref data``: look at preference data before fitting anything."""

from __future__ import annotations

import functools
import inspect
import json
from typing import Optional

import typer

from .errors import user_errors


def load_data(path: str, options: dict):
    """A bundled dataset name (``ukpconvarg1``) or a file path -> PreferenceData."""
    import mixpref as mp

    if path in mp.datasets.list():
        return mp.datasets.load(path)
    fmt = "pairs" if "chosen" in options or "rejected" in options else "rankings" if "ranking" in options else "auto"
    return mp.read(path, format=fmt, **_for_format(fmt, options))


def _for_format(fmt, options):
    keys = {
        "pairs": {"prompt", "chosen", "rejected", "annotator"},
        "rankings": {"prompt", "ranking", "annotator"},
    }.get(fmt)
    return options if keys is None else {k: v for k, v in options.items() if k in keys}


# The data-column options, spelt the same on every command that reads data.
COLUMN_OPTIONS = {
    "prompt": typer.Option(None, "--prompt", help="Column of prompt ids/texts (default 'prompt')."),
    "response_a": typer.Option(None, "--response-a", help="Column of the first response (default 'response_a')."),
    "response_b": typer.Option(None, "--response-b", help="Column of the second response (default 'response_b')."),
    "label": typer.Option(None, "--label", help="Column of labels a/b/tie, 1/0/0.5 or booleans (default 'label')."),
    "annotator": typer.Option(None, "--annotator", help="Column of annotator ids (default: none)."),
    "chosen": typer.Option(None, "--chosen", help="TRL pairs: column of the chosen response."),
    "rejected": typer.Option(None, "--rejected", help="TRL pairs: column of the rejected response."),
    "ranking": typer.Option(None, "--ranking", help="Rankings: column of lists of responses, best first."),
}


def with_column_options(func=None, *, names=tuple(COLUMN_OPTIONS)):
    """Give a command the data-column options; it receives those the user set as ``columns``.

    The command declares a ``columns: dict`` parameter, which is hidden from the command
    line and replaced by ``--prompt``, ``--response-a``, ... (typer reads the rewritten
    signature), so every command spells the options the same way without repeating them.
    """

    def decorate(command):
        signature = inspect.signature(command)
        kept = [p for p in signature.parameters.values() if p.name != "columns"]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=COLUMN_OPTIONS[name], annotation=Optional[str])
            for name in names
        ]

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            given = {name: kwargs.pop(name, None) for name in names}
            return command(*args, columns={k: v for k, v in given.items() if v is not None}, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=kept + added)
        return wrapper

    return decorate(func) if func is not None else decorate


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Inspect preference data.", no_args_is_help=True)

    @data_app.command("summary")
    @user_errors
    @with_column_options
    def summary(
        path: str = typer.Argument(..., help="A .csv/.jsonl/.json/.parquet file (gzip ok) or a bundled dataset name."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        columns: dict = None,
    ):
        """Counts, annotators, ties, repeated votes and majority cycles of a dataset."""
        data = load_data(path, columns)
        summary = data.summary()
        if as_json:
            typer.echo(json.dumps(summary.to_dict(), default=str, indent=2))
        else:
            typer.echo(f"{path}\n{summary}")

    @data_app.command("list")
    def list_datasets():
        """The bundled datasets."""
        import mixpref as mp

        for name in mp.datasets.list():
            typer.echo(f"{name}: {mp.datasets.describe(name)}")

    app.add_typer(data_app, name="data")
