"""``mixpref fit`` and ``mixpref select``: fit preference models from the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import DataError
from .data import DataPath
from .errors import user_errors
from .options import load_data, progress_bars, with_data_options, with_inference_options
from .runlog import TRACKING_HELP

MODELS = ("bt", "pl", "mixture-bt", "mixture-pl", "lowrank")

# options fit and select share
Features_ = Annotated[Optional[Path], typer.Option("--features", help="Features folder (from `mixpref embed`).")]
Embed = Annotated[Optional[str], typer.Option("--embed", help="Embed the responses now: 'minilm' or a local model folder.")]
ItemLevel = Annotated[bool, typer.Option(
    "--item-level", help="Responses are a few items shared across prompts (models, products): one-hot item features, "
                         "no text encoder; comparisons are pooled over prompts unless --prompt is given.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars (also model loading).")]
Tracking = Annotated[Optional[str], typer.Option("--tracking-uri", help=TRACKING_HELP)]
Level = Annotated[str, typer.Option("--level", help="Mixture level: annotator or observation.")]


def parse_ks(text: str) -> list:
    """'1-8' or '1,2,3' -> list of ints.

    Examples
    --------
    >>> parse_ks("1-3"), parse_ks("2,4")
    ([1, 2, 3], [2, 4])
    """
    try:
        if "-" in text:
            lo, hi = text.split("-", 1)
            ks = list(range(int(lo), int(hi) + 1))
        else:
            ks = [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise DataError(f"--ks: got {text!r}; expected a range like '1-8' or a list like '1,2,3'") from None
    if not ks or min(ks) < 1:
        raise DataError(f"--ks: got {text!r}; expected positive integers")
    return ks


def make_base(model: str, options: dict):
    """The per-type model of ``--model`` with the given constructor options."""
    from ..models.bradley_terry import BradleyTerry
    from ..models.policy_likelihood import PolicyLikelihood

    if model not in MODELS:
        raise DataError(f"--model: got {model!r}; expected one of {', '.join(MODELS)}")
    return (PolicyLikelihood if model.endswith("pl") else BradleyTerry)(**options)


def _metrics(model, data, features, seconds) -> dict:
    out = {
        "model": type(model).__name__,
        "n_types": int(model.spec_.n_types),
        "weights": [float(w) for w in model.weights_],
        "train_log_likelihood": float(model.score(data, features)),
        "n_observations": len(data),
        "n_annotators": int(len(model.annotators_)),
        "total_seconds": seconds,
    }
    if hasattr(model, "tie_"):
        out["tie"] = [float(t) for t in model.tie_]
    return out


def _selection_metrics(selection) -> dict:
    row = selection.table.loc[selection.table["k"] == selection.k].iloc[0]
    out = {"chosen_k": int(selection.k), "selection": json.loads(selection.table.to_json(orient="records"))}
    if selection.criterion == "heldout":
        out["heldout_log_likelihood"] = float(row["heldout_ll"])
        out["heldout_se"] = float(row["se"])
    return out


def _per_k(selection):
    """The selection table as metric series (step = K), each quantity under one key."""
    table = selection.table.rename(columns={"seconds": "fit_seconds"})
    if selection.criterion == "heldout":
        return table.drop(columns=["criterion"])
    return table.rename(columns={"criterion": "bic"}).drop(columns=["heldout_ll", "se"])


def _finish(command, fitted, data, feats, item_names, out, path, data_options, item_level, features, embed, metrics,
            params, tracking_uri, selection=None):
    """Write the model folder (model, metrics.json, rewards.csv, source.json), print the summary, log the run."""
    from .._io import write_json, write_table
    from .fitted import REWARDS_FILE, reward_table, summary_lines, write_source
    from .runlog import log_command

    out = Path(out)
    table = reward_table(fitted, data, feats, item_names=item_names)
    fitted.save(out)
    write_table(table, out / REWARDS_FILE)
    artifacts = [out / REWARDS_FILE]
    if selection is not None:
        write_table(selection.table, out / "selection.csv")
        artifacts.append(out / "selection.csv")
    write_json(metrics, out / "metrics.json")
    write_source(out, path, data_options, item_level, item_names, features, embed)
    for line in summary_lines(fitted, metrics, table, item_level):
        typer.echo(line)
    typer.echo(f"wrote {out}/ (model, {REWARDS_FILE}, metrics.json)")
    log_command(command, path, params=params, metrics=metrics, per_k=None if selection is None else _per_k(selection),
                tracking_uri=tracking_uri, output_dir=out / "tracking", artifacts=artifacts, model_dir=out)


def fit_command(
    path: DataPath,
    out: Annotated[Path, typer.Option("--out", help="Folder for the model, rewards.csv and metrics.json.")],
    features: Features_ = None,
    embed: Embed = None,
    item_level: ItemLevel = False,
    model: Annotated[str, typer.Option("--model", help="bt, pl, mixture-bt, mixture-pl or lowrank.")] = "mixture-bt",
    types: Annotated[str, typer.Option("--types", help="Number of types, or 'auto' to select it (held-out).")] = "auto",
    rank: Annotated[int, typer.Option("--rank", help="Basis rewards of --model lowrank.")] = 3,
    weights: Annotated[str, typer.Option("--weights", help="--model lowrank: simplex or free person weights.")] = "simplex",
    shrinkage: Annotated[Optional[str], typer.Option(
        "--shrinkage", help="Mixture types shrunk towards the pooled model: 'auto' or a deviation scale.")] = None,
    ks: Annotated[str, typer.Option("--ks", help="Candidate numbers of types for --types auto.")] = "1-6",
    level: Level = "annotator",
    inference: Annotated[str, typer.Option(
        "--inference", help="map, svi, ensemble or laplace (the last three keep posterior draws).")] = "map",
    restarts: Annotated[int, typer.Option("--restarts", help="Restarts of a mixture fit.")] = 4,
    prior_scale: Annotated[float, typer.Option("--prior-scale", help="Sd of the Normal prior on reward parameters.")] = 1.0,
    heldout: Annotated[float, typer.Option(
        "--heldout", help="Fraction held out to score a fixed model (0: skip); --types auto scores each K anyway.")] = 0.2,
    device: Device = "auto",
    seed: Seed = 0,
    progress: Progress = True,
    tracking_uri: Tracking = None,
    data_options: dict = None,
    inference_options: dict = None,
):
    """Fit a preference model (single or mixture of annotator types); save it, its rewards and metrics."""
    from ..models.mixture import Mixture
    from ..models.selection import select_n_types
    from .fitted import heldout_score, load_features

    data = load_data(path, data_options, item_level=item_level)
    with progress_bars(progress):
        feats, item_names = load_features(data, features, embed, device, item_level, progress=progress)
        base_options = {"inference": inference, "device": device, "random_state": seed, "prior_scale": prior_scale,
                        "progress": progress, **(inference_options or {})}
        base = make_base("bt" if model == "lowrank" else model, base_options)
        t0 = time.perf_counter()
        selection = None
        shrink = _shrinkage(shrinkage, model, types)
        if model == "lowrank":
            from ..models.lowrank import LowRankBT

            if types not in ("auto", str(rank)):
                raise DataError(f"--types {types}: --model lowrank takes its number of basis rewards from --rank")
            estimator = LowRankBT(rank=rank, weights=weights, level=level, n_restarts=restarts, **base_options)
        elif not model.startswith("mixture"):
            if types not in ("auto", "1"):
                raise DataError(f"--types {types}: a single model (--model {model}) has one type; use mixture-bt")
            estimator = base
        elif types == "auto":
            selection = select_n_types(data, feats, base=base, ks=parse_ks(ks), level=level, n_restarts=restarts,
                                       random_state=seed, progress=progress)
        else:
            try:
                k = int(types)
            except ValueError:
                k = 0
            if k < 1:
                raise DataError(f"--types: got {types!r}; expected a positive integer or 'auto'")
            estimator = Mixture(base, n_types=k, level=level, n_restarts=restarts, random_state=seed, shrinkage=shrink)
        fitted = selection.model if selection is not None else estimator.fit(data, feats, study=False)
        metrics = _metrics(fitted, data, feats, time.perf_counter() - t0)
        if selection is not None:
            metrics.update(_selection_metrics(selection))
        elif heldout > 0:
            metrics["heldout_log_likelihood"] = heldout_score(estimator, data, feats, test_size=heldout, random_state=seed)
    params = {"data": path, "model": model, "types": types, "level": level, "inference": inference, "restarts": restarts,
              "prior_scale": prior_scale, "device": device, "seed": seed, "item_level": item_level,
              **({"rank": rank, "weights": weights} if model == "lowrank" else {}),
              **({"shrinkage": shrinkage} if shrinkage is not None else {}),
              **(inference_options or {}), **(data_options or {})}
    _finish("fit", fitted, data, feats, item_names, out, path, data_options, item_level, features, embed, metrics,
            params, tracking_uri, selection)
    return fitted


def _shrinkage(text, model, types):
    """``--shrinkage``: None, 'auto' or a positive number; only for a mixture with a fixed number of types."""
    if text is None:
        return None
    if not model.startswith("mixture") or types == "auto":
        raise DataError(f"--shrinkage {text}: needs a mixture with a fixed number of types (--model mixture-bt --types K)")
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise DataError(f"--shrinkage: got {text!r}; expected 'auto' or a positive number")
    return value


def select_command(
    path: DataPath,
    features: Features_ = None,
    embed: Embed = None,
    item_level: ItemLevel = False,
    model: Annotated[str, typer.Option("--model", help="Base model: bt or pl.")] = "bt",
    ks: Annotated[str, typer.Option("--ks", help="Candidate numbers of types: '1-8' or '1,2,4'.")] = "1-8",
    criterion: Annotated[str, typer.Option("--criterion", help="heldout or bic.")] = "heldout",
    split: Annotated[str, typer.Option("--split", help="Held-out split: observation or annotator.")] = "observation",
    level: Level = "annotator",
    restarts: Annotated[int, typer.Option("--restarts", help="Restarts of each mixture fit.")] = 4,
    device: Device = "auto",
    seed: Seed = 0,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Folder for the chosen model, rewards.csv, selection.csv and metrics.json.")] = None,
    progress: Progress = True,
    tracking_uri: Tracking = None,
    data_options: dict = None,
    inference_options: dict = None,
):
    """Choose the number of annotator types; print the table (and save the chosen model)."""
    from ..models.selection import select_n_types
    from .fitted import load_features
    from .runlog import log_command

    data = load_data(path, data_options, item_level=item_level)
    with progress_bars(progress):
        feats, item_names = load_features(data, features, embed, device, item_level, progress=progress)
        base = make_base(model.replace("mixture-", ""), {"device": device, "random_state": seed, "progress": progress,
                                                         **(inference_options or {})})
        t0 = time.perf_counter()
        result = select_n_types(data, feats, base=base, ks=parse_ks(ks), criterion=criterion, split=split, level=level,
                                n_restarts=restarts, random_state=seed, refit=out is not None, progress=progress)
        seconds = time.perf_counter() - t0
    typer.echo(result.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    typer.echo(f"chosen number of types: {result.k} ({criterion})")
    params = {"data": path, "model": model, "ks": ks, "criterion": criterion, "split": split, "level": level,
              "restarts": restarts, "device": device, "seed": seed, "item_level": item_level,
              **(inference_options or {}), **(data_options or {})}
    if out is None:
        log_command("select", path, params=params, metrics={"chosen_k": result.k, "total_seconds": seconds},
                    per_k=_per_k(result), tracking_uri=tracking_uri)
        return result
    metrics = {**_metrics(result.model, data, feats, seconds), **_selection_metrics(result)}
    _finish("select", result.model, data, feats, item_names, out, path, data_options, item_level, features, embed,
            metrics, params, tracking_uri, result)
    return result


def _command(func):
    return user_errors(with_data_options(with_inference_options(func)))


def register(app: typer.Typer) -> None:
    app.command("fit")(_command(fit_command))
    app.command("select")(_command(select_command))
