"""Fit a model across the ranks of a torch.distributed process group (:func:`fit`)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._device import resolve_device, resolve_dtype
from ..errors import DataError
from ..events import emit
from .comm import Comm
from .shard import data_fingerprint, shard_problem


def fit(model, data, features, *, comm=None, study=None):
    """Fit ``model`` (unfitted, any mixpref preference model) with the observations sharded across ranks.

    Call it on every rank of an initialised process group (torchrun, or
    :func:`mixpref.distributed.init`), each rank with the same ``data`` (checked) and
    features for its responses (a memory-mapped or cache-backed ``features`` is read only
    where this rank's observations need it). Annotators are dealt out to ranks; each rank
    evaluates the objective on its own observations and the values and gradients are
    summed over ranks, so the optimiser on every rank sees the exact full-data objective:
    the result equals a one-process fit (up to floating-point summation order). Every rank
    returns the fitted model; only rank 0 emits the ``fit`` event (what tracking logs).
    ``inference="map"`` (LBFGS, or minibatch Adam when ``batch_size`` or the memory budget
    asks for it) or ``"svi"`` (after the MAP fit, the ELBO's gradients summed over ranks at
    every step: every rank holds the same guide, see :mod:`mixpref.distributed.svi`; with
    minibatches every rank draws the one-process batch of annotators and keeps its own).

    Examples
    --------
    >>> import os, torch.distributed as dist, mixpref as mp
    >>> os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29534")
    >>> dist.init_process_group("gloo", rank=0, world_size=1)
    >>> pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=20, dim=8)
    >>> m = fit(mp.MixtureBT(n_types=2), pop.data, pop.features)
    >>> m.responsibilities_.shape
    (30, 2)
    >>> dist.destroy_process_group()
    """
    from ..models import _engine as E
    from ..models import inference as I
    from ..models._problem import check_data, check_features
    from ..models._base import stack_samples

    comm = comm if comm is not None else Comm()
    opts = model._options()

    def setup():
        if opts["inference"] not in ("map", "svi"):
            raise DataError(f"inference: got {opts['inference']!r}; a distributed fit supports 'map' and 'svi'")
        check_data(data)
        check_features(features)
        if len(data) == 0:
            raise DataError("data: no comparisons or rankings to fit")

    comm.agree(setup, "fit")
    comm.check_same(data_fingerprint(data), "data")
    comm.check_same(f"{len(features)} responses x {features.dim}", "features")
    device = comm.device if comm.device.type == "cuda" else resolve_device(opts["device"])
    dtype = resolve_dtype(opts["dtype"])
    t0 = time.perf_counter()
    spec, problem = comm.agree(lambda: (model._spec(data, features), shard_problem(
        data, features, model._spec(data, features), comm, device=device, dtype=dtype,
        stream_bytes=opts.get("memory_budget"), design_cache=opts.get("design_cache"))), "setup")
    result = I.run(spec, problem, opts)
    params = result.params
    K = spec.n_types
    if K > 1:
        local = E.responsibilities(spec, params, problem).double().cpu().numpy()
        resp = comm.gather_rows(local, problem.global_group, problem.n_groups_total)
    else:
        resp = np.ones((problem.n_groups_total, 1))
    n_ann = len(data.annotators)
    known = problem.annotator[problem.annotator >= 0]
    seen = comm.sum_array(np.bincount(known, minlength=n_ann)[:n_ann]) > 0
    if spec.level == "annotator":
        resp = resp[:n_ann][seen]
    # the same draws on every rank (the same guide, the same seed)
    model._restore(spec, params, n_features_in=problem.dim,
                   annotators=pd.Index(data.annotators)[seen] if n_ann else pd.Index([]), responsibilities=resp,
                   samples=stack_samples(result.samples))
    model._record_fit(result, t0)
    model.distributed_ = {"world_size": comm.world_size, "observations_per_rank": comm.all_gather_object(problem.n_obs)}
    if comm.rank == 0:
        emit("fit", model=model, study=study)
    return model
