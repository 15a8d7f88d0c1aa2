"""``mixpref adapt``: a fitted model that also knows new annotators, from a few of their comparisons.

The population (types, basis rewards) stays as fitted; each new annotator's type posterior
(mixtures) or weight posterior (low-rank persons) is computed from their comparisons in
NEW_DATA (:meth:`mixpref.models.adapt.adapt`). The adapted model is saved with
``annotators.csv`` (one row per known annotator: their type probabilities or weights, and
whether they were adapted here) and ``metrics.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import DataError
from .data import DataPath
from .errors import user_errors
from .options import load_data, with_data_options

ANNOTATORS_FILE = "annotators.csv"


def adapt_command(
    path: DataPath,
    model: Annotated[Path, typer.Option("--model", help="Folder of a fitted model (mixpref fit / model.save).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the adapted model, annotators.csv and metrics.json.")],
    features: Annotated[Optional[Path], typer.Option(
        "--features", help="Features folder for NEW_DATA (default: those the model was fitted with).")] = None,
    embed: Annotated[Optional[str], typer.Option("--embed", help="Embed NEW_DATA's responses now.")] = None,
    item_level: Annotated[Optional[bool], typer.Option(
        "--item-level/--no-item-level", help="One-hot item features (default: as the model was fitted).")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    data_options: dict = None,
):
    """Adapt a fitted model to the annotators of NEW_DATA (population frozen); save the adapted model."""
    import numpy as np
    import pandas as pd

    from .._io import write_json, write_table
    from ..models.persistence import load_model
    from .fitted import load_features, read_source, write_source

    if not (Path(model) / "model.json").is_file():
        raise DataError(f"--model: {model} has no model.json; expected a folder written by mixpref fit or model.save")
    source = read_source(model)
    if features is None and embed is None and item_level is None:
        item_level = bool(source.get("item_level"))
        if not item_level:
            features, embed = source.get("features"), source.get("embed")
    item_level = bool(item_level)
    data = load_data(path, data_options, item_level=item_level)
    names = source.get("item_names") if item_level else None
    feats, item_names = load_features(data, features, embed, device, item_level, item_names=names, progress=False)
    fitted = load_model(model)
    known = len(fitted.annotators_)
    t0 = time.perf_counter()
    adapted = fitted.adapt(data, feats)
    seconds = time.perf_counter() - t0
    new = adapted.annotators_[known:]
    values = adapted._resp
    table = pd.DataFrame(values, columns=[f"weight_{k}" for k in range(values.shape[1])])
    table.insert(0, "annotator", [str(a) for a in adapted.annotators_])
    table["adapted"] = np.arange(len(table)) >= known
    out = Path(out)
    adapted.save(out)
    write_table(table, out / ANNOTATORS_FILE)
    write_source(out, path, data_options, item_level, item_names, features, embed)
    metrics = {"model": type(adapted).__name__, "annotators_before": known, "annotators_adapted": int(len(new)),
               "adapt_seconds": seconds, "comparisons": int(len(data))}
    write_json(metrics, out / "metrics.json")
    typer.echo(f"adapted {len(new)} new annotator(s) in {1000 * seconds:.1f} ms ({known} known before)")
    for row in table[table.adapted].head(5).itertuples(index=False):
        weights = ", ".join(f"{v:.2f}" for v in row[1:-1])
        typer.echo(f"  {row.annotator}: {weights}")
    typer.echo(f"wrote {out}/ (model, {ANNOTATORS_FILE}, metrics.json)")
    return adapted


def register(app: typer.Typer) -> None:
    app.command("adapt")(user_errors(with_data_options(adapt_command)))
