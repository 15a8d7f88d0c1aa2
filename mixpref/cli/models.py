"""``mixpref fit`` and ``mixpref select``: fit preference models from the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from .errors import user_errors

MODELS = ("bt", "pl", "mixture-bt", "mixture-pl")


def load_features(data, features_dir: Optional[Path], embed: Optional[str], device: str):
    """Features from a folder written by ``Features.save`` / ``mixpref embed``, or computed with ``--embed``."""
    if features_dir is not None and embed is not None:
        raise ValueError("give either --features or --embed, not both")
    if features_dir is not None:
        from ..data.features import Features

        if not Path(features_dir).is_dir():
            raise FileNotFoundError(f"--features: {features_dir} is not a folder written by mixpref embed / Features.save")
        return Features.load(features_dir).align(data)
    if embed is not None:
        from ..features.text_encoder import TextEncoder

        return TextEncoder(model=embed, device=device).encode_data(data)
    raise ValueError("no features: give --features FOLDER (from `mixpref embed`) or --embed minilm")


def parse_ks(text: str) -> list:
    """'1-8' or '1,2,3' -> list of ints."""
    try:
        if "-" in text:
            lo, hi = text.split("-", 1)
            ks = list(range(int(lo), int(hi) + 1))
        else:
            ks = [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise ValueError(f"--ks: got {text!r}; expected a range like '1-8' or a list like '1,2,3'") from None
    if not ks or min(ks) < 1:
        raise ValueError(f"--ks: got {text!r}; expected positive integers")
    return ks


def make_base(model: str, options: dict):
    from ..models.bradley_terry import BradleyTerry
    from ..models.policy_likelihood import PolicyLikelihood

    if model not in MODELS:
        raise ValueError(f"--model: got {model!r}; expected one of {', '.join(MODELS)}")
    return (PolicyLikelihood if model.endswith("pl") else BradleyTerry)(**options)


def _metrics(model, data, features, seconds) -> dict:
    out = {
        "model": type(model).__name__,
        "n_types": int(model.spec_.n_types),
        "weights": [float(w) for w in model.weights_],
        "train_log_likelihood": float(model.score(data, features)),
        "n_observations": len(data),
        "n_annotators": int(len(model.annotators_)),
        "seconds": seconds,
    }
    if hasattr(model, "tie_"):
        out["tie"] = [float(t) for t in model.tie_]
    return out


def _save_and_log(command, model, out, metrics, params, tracking_uri, extra_files=()):
    """Write the model and metrics.json first, then log them to mlflow.

    The files never depend on tracking: a failing or unwritable tracking URI only warns
    (see :class:`mixpref.Study`).
    """
    from .._io import atomic_path
    from ..tracking import Study

    out = Path(out)
    model.save(out)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))
    uri = False if tracking_uri in ("none", "off") else tracking_uri
    scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    with Study(command, tracking_uri=uri, output_dir=out / "tracking") as study:
        study.log_params(params)
        study.log_metrics(scalars)
        study.log_model_dir(out)
        for path in extra_files:
            study.log_artifact(path)


# options fit and select share
DATA_PATH = typer.Argument(..., help="A .csv/.jsonl/.json/.parquet file (gzip ok) or a bundled dataset name.")
FEATURES = typer.Option(None, "--features", help="Features folder (from `mixpref embed`).")
EMBED = typer.Option(None, "--embed", help="Embed the responses now: 'minilm' or a local model folder.")
DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")
SEED = typer.Option(0, "--seed", help="Random seed.")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bars.")
TRACKING = typer.Option(None, "--tracking-uri", help="mlflow URI (default sqlite:///./mixpref-runs/mlflow.db; 'none' disables).")


def register(app: typer.Typer) -> None:
    from .data import load_data, with_column_options

    @app.command("fit")
    @user_errors
    @with_column_options
    def fit(
        path: str = DATA_PATH,
        features: Optional[Path] = FEATURES,
        embed: Optional[str] = EMBED,
        model: str = typer.Option("mixture-bt", "--model", help="bt, pl, mixture-bt or mixture-pl."),
        types: str = typer.Option("auto", "--types", help="Number of types, or 'auto' to select it (held-out)."),
        ks: str = typer.Option("1-6", "--ks", help="Candidate numbers of types for --types auto."),
        level: str = typer.Option("annotator", "--level", help="Mixture level: annotator or observation."),
        inference: str = typer.Option("map", "--inference", help="map, svi or ensemble."),
        restarts: int = typer.Option(4, "--restarts", help="Restarts of a mixture fit."),
        prior_scale: float = typer.Option(1.0, "--prior-scale", help="Sd of the Normal prior on reward parameters."),
        device: str = DEVICE,
        seed: int = SEED,
        out: Path = typer.Option(..., "--out", help="Folder for the fitted model and metrics.json."),
        progress: bool = PROGRESS,
        tracking_uri: Optional[str] = TRACKING,
        columns: dict = None,
    ):
        """Fit a preference model (single or mixture of annotator types); save it and its metrics."""
        from ..models.mixture import Mixture
        from ..models.selection import select_n_types

        data = load_data(path, columns)
        feats = load_features(data, features, embed, device)
        base = make_base(model, {"inference": inference, "device": device, "random_state": seed,
                                 "prior_scale": prior_scale, "progress": progress})
        t0 = time.perf_counter()
        selection = None
        if not model.startswith("mixture"):
            if types not in ("auto", "1"):
                raise ValueError(f"--types {types}: a single model (--model {model}) has one type; use mixture-bt")
            fitted = base.fit(data, feats)
        elif types == "auto":
            selection = select_n_types(data, feats, base=base, ks=parse_ks(ks), level=level, n_restarts=restarts,
                                       random_state=seed, progress=progress)
            fitted = selection.model
        else:
            try:
                k = int(types)
            except ValueError:
                raise ValueError(f"--types: got {types!r}; expected a positive integer or 'auto'") from None
            fitted = Mixture(base, n_types=k, level=level, n_restarts=restarts, random_state=seed).fit(data, feats)
        seconds = time.perf_counter() - t0
        metrics = _metrics(fitted, data, feats, seconds)
        if selection is not None:
            metrics["selection"] = json.loads(selection.table.to_json(orient="records"))
        params = {"data": path, "model": model, "types": types, "level": level, "inference": inference,
                  "restarts": restarts, "prior_scale": prior_scale, "device": device, "seed": seed, **columns}
        _save_and_log("fit", fitted, out, metrics, params, tracking_uri)
        typer.echo(f"{metrics['model']} with {metrics['n_types']} type(s), weights "
                   f"{[round(w, 3) for w in metrics['weights']]}, train log-likelihood "
                   f"{metrics['train_log_likelihood']:.4f}/observation -> {out}")

    @app.command("select")
    @user_errors
    @with_column_options
    def select(
        path: str = DATA_PATH,
        features: Optional[Path] = FEATURES,
        embed: Optional[str] = EMBED,
        model: str = typer.Option("bt", "--model", help="Base model: bt or pl."),
        ks: str = typer.Option("1-8", "--ks", help="Candidate numbers of types: '1-8' or '1,2,4'."),
        criterion: str = typer.Option("heldout", "--criterion", help="heldout or bic."),
        split: str = typer.Option("observation", "--split", help="Held-out split: observation or annotator."),
        level: str = typer.Option("annotator", "--level", help="Mixture level: annotator or observation."),
        restarts: int = typer.Option(4, "--restarts", help="Restarts of each mixture fit."),
        device: str = DEVICE,
        seed: int = SEED,
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for the chosen model, selection.csv and metrics.json."),
        progress: bool = PROGRESS,
        tracking_uri: Optional[str] = TRACKING,
        columns: dict = None,
    ):
        """Choose the number of annotator types; print the table (and save the chosen model)."""
        from ..models.selection import select_n_types

        data = load_data(path, columns)
        feats = load_features(data, features, embed, device)
        base = make_base(model.replace("mixture-", ""), {"device": device, "random_state": seed, "progress": progress})
        t0 = time.perf_counter()
        result = select_n_types(data, feats, base=base, ks=parse_ks(ks), criterion=criterion, split=split, level=level,
                                n_restarts=restarts, random_state=seed, refit=out is not None, progress=progress)
        seconds = time.perf_counter() - t0
        typer.echo(result.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        typer.echo(f"chosen number of types: {result.k} ({criterion})")
        if out is not None:
            from .._io import atomic_path

            Path(out).mkdir(parents=True, exist_ok=True)
            with atomic_path(Path(out) / "selection.csv") as tmp:
                result.table.to_csv(tmp, index=False)
            metrics = _metrics(result.model, data, feats, seconds)
            metrics["selection"] = json.loads(result.table.to_json(orient="records"))
            metrics["chosen_k"] = result.k
            params = {"data": path, "model": model, "ks": ks, "criterion": criterion, "split": split, "level": level,
                      "restarts": restarts, "device": device, "seed": seed, **columns}
            _save_and_log("select", result.model, out, metrics, params, tracking_uri, [Path(out) / "selection.csv"])
