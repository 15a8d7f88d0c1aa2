"""Bootstrap ensembles: MAP fits on resamples of the annotators, types matched to the full fit."""

from __future__ import annotations

import numpy as np

from . import map_fit
from .alignment import align_types


def bootstrap(spec, problem, params, opts, batch_groups=None) -> list:
    """Bootstrap over groups (annotators): one MAP fit per resample, started at the full fit,
    with the fit's own optimiser, learning rate and minibatches."""
    rng = np.random.default_rng(opts["random_state"])
    members = []
    it = range(opts["n_members"])
    if opts["progress"]:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="ensemble", leave=False)
    for _ in it:
        groups = rng.integers(0, problem.n_groups, size=problem.n_groups)
        counts = np.bincount(groups, minlength=problem.n_groups)
        sub = weighted_problem(problem, counts)
        # through the module, so that a test can watch which optimiser the members use
        p, _ = map_fit.fit_map(spec, sub, max_steps=opts["max_steps"], optimizer=opts["optimizer"], lr=opts["lr"],
                               init=params, batch_groups=batch_groups)
        members.append(align_types(spec, params, p))
    return members


def weighted_problem(problem, counts):
    """A copy of ``problem`` in which group g's observations count ``counts[g]`` times (bootstrap)."""
    sub = problem.subset_groups(np.flatnonzero(counts > 0))
    # repeat observations of groups drawn several times as separate groups
    reps = counts[sub.group_np]
    if (reps > 1).any():
        idx = np.repeat(np.arange(sub.n_obs), reps)
        copy_no = np.concatenate([np.arange(k) for k in reps])
        new_group = sub.group_np[idx] * (counts.max() + 1) + copy_no
        sub = sub.take(idx, new_group, renumber=True)
    else:
        sub = sub.take(np.arange(sub.n_obs), renumber=True)
    sub.level = "annotator"
    return sub
