"""The ``mixpref`` command under torchrun: ``fit`` and ``embed`` with the work sharded across ranks.

``torchrun --nproc-per-node P -m mixpref fit DATA --features F --types K --out M`` fits with
the observations sharded by annotator (:func:`mixpref.distributed.fit`) and rank 0 writes
the folder ``mixpref fit --out M`` writes and logs the run to mlflow; ``torchrun ... -m
mixpref embed DATA --cache-dir C --out F`` encodes a disjoint share of the texts on each rank
into the shared cache, then rank 0 writes the features. Every rank reads the same data
(checked); only rank 0 writes outputs and logs, after every rank has finished. A user's
mistake on any rank is reported on every rank (exit code 2), never a hang: collectives
time out after ``$MIXPREF_DIST_TIMEOUT`` seconds (default 600).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import DataError
from .errors import user_errors
from .options import load_data, with_data_options, with_inference_options
from .runlog import TRACKING_HELP

app = typer.Typer(name="mixpref (torchrun)", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="mixpref under torchrun: sharded fit and embed.")


def _comm(device):
    from ..distributed.comm import init

    return init(backend="nccl" if str(device).startswith("cuda") else None)


def fit_command(
    path: Annotated[str, typer.Argument(help="Data file (CSV, JSONL, parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the model, rewards.csv and metrics.json (written by rank 0).")],
    features: Annotated[Optional[Path], typer.Option("--features", help="Features folder (from `mixpref embed`).")] = None,
    model: Annotated[str, typer.Option("--model", help="bt, pl, mixture-bt or mixture-pl.")] = "mixture-bt",
    types: Annotated[int, typer.Option("--types", help="Number of types (selecting K is not distributed).")] = 2,
    level: Annotated[str, typer.Option("--level", help="Mixture level: annotator or observation.")] = "annotator",
    inference: Annotated[str, typer.Option("--inference", help="map or svi (both distributed).")] = "map",
    restarts: Annotated[int, typer.Option("--restarts", help="Restarts of a mixture fit.")] = 4,
    prior_scale: Annotated[float, typer.Option("--prior-scale", help="Sd of the Normal prior on reward parameters.")] = 1.0,
    heldout: Annotated[float, typer.Option(
        "--heldout", help="Fraction held out to score the model (a second distributed fit; 0: skip).")] = 0.2,
    device: Annotated[str, typer.Option("--device", help="cpu (gloo) or cuda (NCCL, one GPU per rank).")] = "cpu",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help=TRACKING_HELP)] = None,
    data_options: dict = None,
    inference_options: dict = None,
):
    """Fit a preference model with the observations sharded across the ranks; rank 0 writes and logs it.

    Rank 0 writes the folder the one-process ``mixpref fit --out`` writes (the model,
    rewards.csv, metrics.json, source.json) and logs the run to mlflow; the other ranks
    touch neither the folder nor mlflow. metrics.json adds ``world_size``,
    ``observations_per_rank`` and ``objective``.
    """
    from sklearn.base import clone

    from ..distributed import fit as distributed_fit
    from ..models.mixture import Mixture
    from .fitted import heldout_split, load_features
    from .models import _finish, _metrics, make_base

    comm = _comm(device)
    if features is None:
        raise DataError("--features: a distributed fit reads precomputed features; run `mixpref embed` first")
    data = comm.agree(lambda: load_data(path, data_options), "reading the data")
    feats, _ = comm.agree(lambda: load_features(data, features, None, device, False, progress=False), "reading the features")
    dev = f"cuda:{comm.device.index}" if comm.device.type == "cuda" else device
    base = make_base(model, {"inference": inference, "device": dev, "random_state": seed, "prior_scale": prior_scale,
                             "progress": False, **(inference_options or {})})
    estimator = Mixture(base, n_types=types, level=level, n_restarts=restarts, random_state=seed) \
        if model.startswith("mixture") else base
    t0 = time.perf_counter()
    fitted = distributed_fit(clone(estimator), data, feats, comm=comm, study=False)
    seconds = time.perf_counter() - t0
    score = None
    if heldout > 0:
        # as the one-process command: a copy fitted on the rest (here distributed too), scored on rank 0
        split = comm.agree(lambda: heldout_split(data, heldout, seed), "splitting the data")
        if split is not None:
            part = distributed_fit(clone(estimator), split[0], feats, comm=comm, study=False)
            score = comm.agree(lambda: float(part.score(split[1], feats)) if comm.rank == 0 else None, "held-out score")
    params = {"data": path, "model": model, "types": types, "level": level, "inference": inference,
              "restarts": restarts, "prior_scale": prior_scale, "device": device, "seed": seed, "item_level": False,
              "world_size": comm.world_size, **(inference_options or {}), **(data_options or {})}

    def write():
        if comm.rank != 0:
            return
        metrics = _metrics(fitted, data, feats, seconds)
        if score is not None:
            metrics["heldout_log_likelihood"] = score
        metrics.update(objective=float(fitted.objective_), world_size=comm.world_size,
                       observations_per_rank=fitted.distributed_["observations_per_rank"])
        _finish("fit", fitted, data, feats, None, out, path, data_options, False, features, None, metrics, params,
                tracking_uri)
        typer.echo(f"fitted {type(fitted).__name__} on {comm.world_size} ranks in {seconds:.2f} s")

    # rank 0 writes and logs; a failure there is reported on every rank, not left as a hang
    comm.agree(write, "writing the model")
    return fitted


def embed_command(
    path: Annotated[str, typer.Argument(help="Data file (CSV, JSONL, parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the features (written by rank 0).")],
    cache_dir: Annotated[Path, typer.Option("--cache-dir", help="Cache shared by the ranks (required).")],
    model: Annotated[str, typer.Option("--model", help="'minilm' (bundled) or a local Hugging Face model folder.")] = "minilm",
    template: Annotated[str, typer.Option("--template", help="How prompt and response form one text.")] = "{prompt}\n\n{response}",
    max_length: Annotated[Optional[int], typer.Option("--max-length", help="Tokens per text.")] = None,
    device: Annotated[str, typer.Option("--device", help="cpu (gloo) or cuda (NCCL, one GPU per rank).")] = "cpu",
    data_options: dict = None,
):
    """Embed every response with its prompt, each rank encoding a disjoint share of the texts."""
    from ..distributed.embed import embed_sharded

    comm = _comm(device)
    data = comm.agree(lambda: load_data(path, data_options), "reading the data")
    dev = f"cuda:{comm.device.index}" if comm.device.type == "cuda" else device
    features, stats = embed_sharded(data, out, comm, model=model, template=template, max_length=max_length,
                                    device=dev, cache_dir=cache_dir)
    if comm.rank == 0:
        typer.echo(f"wrote {len(features)} response embeddings (dim {features.dim}) to {out}; encoded per rank: "
                   f"{stats['encoded_per_rank']}")
    return features


app.command("fit")(user_errors(with_data_options(with_inference_options(fit_command))))
app.command("embed")(user_errors(with_data_options(embed_command)))


def main(argv=None):
    """Run the torchrun command line; the process group is torn down on the way out."""
    from .errors import run_app

    try:
        return run_app(app, argv)
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
