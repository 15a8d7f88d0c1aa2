"""``mixpref suggest``: which comparisons to ask next (and of whom), from a fitted model and a pool.

The pool is a preference-data file of candidate comparisons (long format; labels, when
present, are ignored; a file without a label column is read as unlabelled candidates).
Features come from ``--features``/``--embed``/``--item-level`` or, by default, from the
model folder's ``source.json`` (as ``mixpref fit`` wrote it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import DataError
from .errors import user_errors
from .options import _ANNOTATIONS, DATA_OPTIONS, _rewrite, load_data, progress_bars, read_options
from .runlog import TRACKING_HELP

_TEXT_WIDTH = 40

# the data options of every data-reading command, except that --annotator names whom to ask
# here, so the pool's column of annotator ids is --annotator-column
POOL_OPTIONS = {k: v for k, v in DATA_OPTIONS.items() if k != "annotator"}
POOL_OPTIONS["annotator_column"] = typer.Option(
    None, "--annotator-column", help="Column of the pool's annotator ids (whom each candidate would be asked).")


def with_pool_options(command):
    def collect(given):
        out = {k: v for k, v in given.items() if v not in (None, [])}
        if "annotator_column" in out:
            out["annotator"] = out.pop("annotator_column")
        return out

    return _rewrite(command, "data_options", POOL_OPTIONS, _ANNOTATIONS, collect)


def load_pool(path, data_options=None, item_level=False):
    """The pool file as PreferenceData; a long-format table without a label column is read as unlabelled."""
    try:
        return load_data(path, data_options, item_level=item_level)
    except DataError as err:
        first = err
    suffix = Path(str(path)).suffix.lower()
    if suffix not in (".csv", ".jsonl", ".json", ".parquet", ".tsv"):
        raise first
    from ..data.preference_data import PreferenceData
    from ..data.readers import read_table

    table = read_table(path)
    kwargs = read_options(data_options, item_level=item_level)
    label = kwargs.pop("label", "label")
    if label in table.columns:
        raise first
    kwargs.pop("label_map", None)
    allowed = {"prompt", "response_a", "response_b", "annotator", "responses", "prompts"}
    # candidates carry no answer yet: a placeholder label lets the long-format reader code them
    return PreferenceData.from_frame(table.assign(**{label: "a"}), label=label,
                                     **{k: v for k, v in kwargs.items() if k in allowed})


def _short(text):
    text = str(text).replace("\n", " ")
    return text if len(text) <= _TEXT_WIDTH else text[: _TEXT_WIDTH - 3] + "..."


def suggest_command(
    model: Annotated[Path, typer.Option("--model", help="A fitted model folder (mixpref fit).")],
    pool: Annotated[str, typer.Option("--pool", help="Candidate comparisons: a data file (labels ignored) or a bundled name.")],
    objective: Annotated[str, typer.Option("--objective", help="type, reward, decision, prediction, uncertainty or random.")] = "uncertainty",
    annotator: Annotated[Optional[str], typer.Option(
        "--annotator", help="Whom to ask; one the model has not seen is a new annotator with the population prior.")] = None,
    n: Annotated[int, typer.Option("-n", "--n", help="How many comparisons to suggest.")] = 10,
    batch: Annotated[str, typer.Option("--batch", help="greedy (diverse, diminishing returns) or top.")] = "greedy",
    n_draws: Annotated[int, typer.Option("--n-draws", help="Posterior draws for reward/decision/prediction/uncertainty.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Random state.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the suggestions to .csv/.jsonl/.parquet.")] = None,
    features: Annotated[Optional[Path], typer.Option("--features", help="Features folder (mixpref embed) of the pool's responses...")] = None,
    embed: Annotated[Optional[str], typer.Option("--embed", help="...or embed the responses now ('minilm')...")] = None,
    item_level: Annotated[bool, typer.Option("--item-level", help="...or item one-hot features.")] = False,
    device: Annotated[str, typer.Option("--device", help="'auto', 'cpu' or 'cuda' (embedding).")] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
    tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help=TRACKING_HELP)] = None,
    data_options: dict = None,
):
    """Suggest the next comparisons to ask, best first, with their texts."""
    from .._io import write_table
    from ..active import suggest
    from ..models.persistence import load_model
    from .fitted import load_features, read_source
    from .runlog import log_command

    if not Path(model).is_dir():
        raise DataError(f"--model: {model} is not a folder written by mixpref fit / Model.save")
    source = read_source(model)
    if features is None and embed is None and not item_level:
        item_level = bool(source.get("item_level"))
        if not item_level:
            features, embed = source.get("features"), source.get("embed")
    data = load_pool(pool, data_options, item_level=item_level)
    names = source.get("item_names") if item_level else None
    with progress_bars(progress):
        feats, _ = load_features(data, features, embed, device, item_level, item_names=names, progress=progress)
        fitted = load_model(model)
    table = suggest(fitted, data, feats, n=n, objective=objective, annotator=annotator, batch=batch,
                    random_state=seed, n_draws=n_draws)
    if table.attrs.get("note"):
        typer.echo(table.attrs["note"])
    for row in table.itertuples(index=False):
        who = f"  ask {row.annotator}" if "annotator" in table.columns else ""
        typer.echo(f"{row.rank:3d}. {row.score:.4f}  [{_short(row.prompt)}]  A: {_short(row.text_a)}  |  "
                   f"B: {_short(row.text_b)}{who}")
    if out is not None:
        write_table(table, out)
        typer.echo(f"wrote {out}")
    log_command("suggest", pool, params={"model": str(model), "objective": objective, "annotator": annotator, "n": n,
                                         "batch": batch}, metrics={"mean_score": float(table["score"].mean())},
                tracking_uri=tracking_uri, artifacts=[out] if out is not None else ())
    return table


def register(app: typer.Typer) -> None:
    app.command("suggest")(user_errors(with_pool_options(suggest_command)))
