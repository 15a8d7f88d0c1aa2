"""``mixpref data``: look at preference data before fitting anything."""

from __future__ import annotations

import json
from typing import Optional

import typer

from .errors import user_errors


def column_options(
    prompt: Optional[str], response_a: Optional[str], response_b: Optional[str], label: Optional[str],
    annotator: Optional[str], chosen: Optional[str] = None, rejected: Optional[str] = None,
    ranking: Optional[str] = None,
) -> dict:
    """The column options a user gave on the command line, for :func:`mixpref.read`."""
    given = {
        "prompt": prompt, "response_a": response_a, "response_b": response_b, "label": label,
        "annotator": annotator, "chosen": chosen, "rejected": rejected, "ranking": ranking,
    }
    return {k: v for k, v in given.items() if v is not None}


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


# Reused by every command that reads data, so the options are spelt the same everywhere.
PROMPT = typer.Option(None, "--prompt", help="Column of prompt ids/texts (default 'prompt').")
RESPONSE_A = typer.Option(None, "--response-a", help="Column of the first response (default 'response_a').")
RESPONSE_B = typer.Option(None, "--response-b", help="Column of the second response (default 'response_b').")
LABEL = typer.Option(None, "--label", help="Column of labels a/b/tie, 1/0/0.5 or booleans (default 'label').")
ANNOTATOR = typer.Option(None, "--annotator", help="Column of annotator ids (default: none).")
CHOSEN = typer.Option(None, "--chosen", help="TRL pairs: column of the chosen response.")
REJECTED = typer.Option(None, "--rejected", help="TRL pairs: column of the rejected response.")
RANKING = typer.Option(None, "--ranking", help="Rankings: column of lists of responses, best first.")


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Inspect preference data.", no_args_is_help=True)

    @data_app.command("summary")
    @user_errors
    def summary(
        path: str = typer.Argument(..., help="A .csv/.jsonl/.json/.parquet file (gzip ok) or a bundled dataset name."),
        prompt: Optional[str] = PROMPT,
        response_a: Optional[str] = RESPONSE_A,
        response_b: Optional[str] = RESPONSE_B,
        label: Optional[str] = LABEL,
        annotator: Optional[str] = ANNOTATOR,
        chosen: Optional[str] = CHOSEN,
        rejected: Optional[str] = REJECTED,
        ranking: Optional[str] = RANKING,
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ):
        """Counts, annotators, ties, repeated votes and majority cycles of a dataset."""
        options = column_options(prompt, response_a, response_b, label, annotator, chosen, rejected, ranking)
        data = load_data(path, options)
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
