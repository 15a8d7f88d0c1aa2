"""The ``mixpref`` command under torchrun: ``fit`` and ``embed`` with the work sharded across ranks.

``torchrun --nproc-per-node P -m mixpref fit DATA --features F --types K --out M`` fits with
the observations sharded by annotator (:func:`mixpref.distributed.fit`); ``torchrun ... -m
mixpref embed DATA --cache-dir C --out F`` encodes a disjoint share of the texts on each rank
into the shared cache, then rank 0 writes the features. Every rank reads the same data
(checked); only rank 0 writes outputs and logs, after every rank has finished. A user's
mistake on any rank is reported on every rank (exit code 2), never a hang: collectives
time out after ``$MIXPREF_DIST_TIMEOUT`` seconds (default 600).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import DataError
from .errors import user_errors
from .options import load_data, with_data_options, with_inference_options

app = typer.Typer(name="mixpref (torchrun)", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="mixpref under torchrun: sharded fit and embed.")


def _comm(device):
    from ..distributed.comm import init

    return init(backend="nccl" if str(device).startswith("cuda") else None)


def fit_command(
    path: Annotated[str, typer.Argument(help="Data file (CSV, JSONL, parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the model and metrics.json (written by rank 0).")],
    features: Annotated[Optional[Path], typer.Option("--features", help="Features folder (from `mixpref embed`).")] = None,
    model: Annotated[str, typer.Option("--model", help="bt, pl, mixture-bt or mixture-pl.")] = "mixture-bt",
    types: Annotated[int, typer.Option("--types", help="Number of types (selecting K is not distributed).")] = 2,
    level: Annotated[str, typer.Option("--level", help="Mixture level: annotator or observation.")] = "annotator",
    restarts: Annotated[int, typer.Option("--restarts", help="Restarts of a mixture fit.")] = 4,
    prior_scale: Annotated[float, typer.Option("--prior-scale", help="Sd of the Normal prior on reward parameters.")] = 1.0,
    device: Annotated[str, typer.Option("--device", help="cpu (gloo) or cuda (NCCL, one GPU per rank).")] = "cpu",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    data_options: dict = None,
    inference_options: dict = None,
):
    """Fit a preference model with the observations sharded across the ranks."""
    from ..distributed import fit as distributed_fit
    from ..models.mixture import Mixture
    from .fitted import load_features
    from .models import make_base

    comm = _comm(device)
    if features is None:
        raise DataError("--features: a distributed fit reads precomputed features; run `mixpref embed` first")
    data = comm.agree(lambda: load_data(path, data_options), "reading the data")
    feats, _ = comm.agree(lambda: load_features(data, features, None, device, False, progress=False), "reading the features")
    dev = f"cuda:{comm.device.index}" if comm.device.type == "cuda" else device
    base = make_base(model, {"device": dev, "random_state": seed, "prior_scale": prior_scale, "progress": False,
                             **(inference_options or {})})
    estimator = Mixture(base, n_types=types, level=level, n_restarts=restarts, random_state=seed) \
        if model.startswith("mixture") else base
    t0 = time.perf_counter()
    fitted = distributed_fit(estimator, data, feats, comm=comm, study=False)
    seconds = time.perf_counter() - t0
    if comm.rank == 0:
        from .._io import atomic_path, json_safe

        fitted.save(out)
        metrics = {"model": type(fitted).__name__, "n_types": int(fitted.spec_.n_types),
                   "weights": [float(w) for w in fitted.weights_], "objective": float(fitted.objective_),
                   "n_observations": len(data), "world_size": comm.world_size,
                   "observations_per_rank": fitted.distributed_["observations_per_rank"], "total_seconds": seconds}
        with atomic_path(Path(out) / "metrics.json") as tmp:
            tmp.write_text(json.dumps(json_safe(metrics), indent=2))
        typer.echo(f"fitted {type(fitted).__name__} on {comm.world_size} ranks in {seconds:.2f} s; wrote {out}/")
    comm.barrier()
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
