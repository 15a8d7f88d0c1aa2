"""``mixpref data``: look at preference data before fitting anything."""

from __future__ import annotations

import json

import typer
from typing import Annotated

from .errors import user_errors
from .options import load_data, with_data_options

DataPath = Annotated[str, typer.Argument(help="A .csv/.jsonl/.json/.parquet file (gzip ok) or a bundled dataset name.")]


def summary_command(
    path: DataPath,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    data_options: dict = None,
):
    """Counts, annotators, ties, repeated votes and majority cycles of a dataset."""
    data = load_data(path, data_options)
    summary = data.summary()
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), default=str, indent=2))
    else:
        typer.echo(f"{path}\n{summary}")
    return summary


def list_command():
    """The bundled datasets."""
    import mixpref as mp

    for name in mp.datasets.list():
        typer.echo(f"{name}: {mp.datasets.describe(name)}")


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Inspect preference data.", no_args_is_help=True)
    data_app.command("summary")(user_errors(with_data_options(summary_command)))
    data_app.command("list")(user_errors(list_command))
    app.add_typer(data_app, name="data")
