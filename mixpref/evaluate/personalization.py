"""The personalisation protocol: seen/unseen annotators x seen/unseen prompts, and few-shot curves.

``personalization(make_model, data, features)`` splits the annotators (a fifth unseen) and
the prompts (a fifth unseen), fits each model on the seen annotators' comparisons of the
seen prompts (less a fifth of every annotator's, held out), and scores the four splits of
LoRe (Bose et al., 2025): seen annotators on held-out comparisons of seen prompts and on
unseen prompts; unseen annotators (from the population, zero shots) on seen and unseen
prompts. For the unseen annotators a fifth of their comparisons is held out for scoring
and the model is adapted (:meth:`adapt`, population frozen) on the first ``s`` of the rest,
for each ``s`` in ``shots``. With ``reference=True`` the model is also fitted with those
annotators' non-held-out comparisons in training and scored on the same held-out ones: the
level a few-shot curve should reach. Standard errors are clustered by annotator.

Examples
--------
>>> import mixpref as mp
>>> from mixpref.evaluate.personalization import personalization
>>> pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=30, dim=8)
>>> table = personalization({"bt": mp.BradleyTerry}, pop.data, pop.features, shots=(0, 5))
>>> sorted(table.split.unique())[:2]
['seen annotators, seen prompts', 'seen annotators, unseen prompts']
>>> list(table.columns)
['model', 'split', 'shots', 'n', 'log_likelihood', 'log_likelihood_se', 'accuracy', 'accuracy_se']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

SPLITS = ("seen annotators, seen prompts", "seen annotators, unseen prompts", "unseen annotators, seen prompts",
          "unseen annotators, unseen prompts")
FEW_SHOT = "unseen annotators, few-shot"
REFERENCE = "unseen annotators, in training"


def _take(data, idx):
    from ..data.operations import take

    return take(data, np.sort(np.asarray(idx, dtype=np.int64)), np.zeros(0, dtype=np.int64))


def _clustered(x, groups):
    """Mean of ``x`` and its standard error clustered by ``groups``."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.nan, np.nan
    mean = x.mean()
    _, inv = np.unique(groups, return_inverse=True)
    sums = np.bincount(inv, weights=x - mean)
    g = len(sums)
    se = np.sqrt(g / max(g - 1, 1) * (sums**2).sum()) / n
    return float(mean), float(se)


def _row(name, split, shots, model, data, features, new_annotators="prior"):
    ll = model.log_likelihood(data, features, new_annotators=new_annotators)
    arr = data.arrays
    groups = arr.annotator
    ll = ll[: len(arr)]
    decided = arr.y != 0.5
    p = model.predict_proba(data, features)
    correct = ((p > 0.5) == (arr.y == 1.0)).astype(float)[decided]
    m, se = _clustered(ll, groups)
    acc, acc_se = _clustered(correct, groups[decided])
    return {"model": name, "split": split, "shots": shots, "n": int(len(ll)), "log_likelihood": m,
            "log_likelihood_se": se, "accuracy": acc, "accuracy_se": acc_se}


def personalization(make_model, data, features, shots=(0, 1, 2, 5, 10, 20), unseen_annotators=0.2,
                    unseen_prompts=0.2, holdout=0.2, reference=True, random_state=0) -> pd.DataFrame:
    """Score models on the four seen/unseen splits and on few-shot adaptation (tidy DataFrame).

    Parameters
    ----------
    make_model : callable or dict of name -> callable
        Each call returns a new, unfitted model.
    data, features : PreferenceData (comparisons, with annotators), Features
    shots : sequence of int
        Comparisons of each unseen annotator to adapt on (0: the population alone).
    unseen_annotators, unseen_prompts, holdout : float
        Fractions held out: of the annotators, of the prompts, of each annotator's comparisons.
    reference : bool
        Also fit with the unseen annotators' adaptation comparisons in training.
    random_state : int

    Returns
    -------
    DataFrame
        Columns ``model, split, shots, n, log_likelihood, log_likelihood_se, accuracy,
        accuracy_se``; log-likelihood in nats per comparison.
    """
    makers = make_model if isinstance(make_model, dict) else {getattr(make_model, "__name__", "model"): make_model}
    if not data.has_annotators:
        raise DataError("personalization: the data has no annotator column; expected annotator ids")
    shots = sorted({int(s) for s in shots})
    if not shots or shots[0] < 0:
        raise DataError(f"shots: got {shots!r}, expected nonnegative integers")
    rng = np.random.default_rng(random_state)
    arr = data.arrays
    ann, prompt = arr.annotator, arr.prompt
    annotators = np.unique(ann[ann >= 0])
    prompts = np.unique(prompt)
    if len(annotators) < 5:
        raise DataError(f"personalization: {len(annotators)} annotators; expected at least 5 to hold some out")
    unseen_a = set(rng.choice(annotators, size=max(1, int(round(unseen_annotators * len(annotators)))), replace=False))
    # one prompt (items compared without context, as in surveys): no unseen-prompt splits
    n_p = int(round(unseen_prompts * len(prompts))) if len(prompts) >= 2 else 0
    unseen_p = set(rng.choice(prompts, size=max(1, n_p), replace=False)) if n_p else set()
    is_new_a = np.isin(ann, list(unseen_a))
    is_new_p = np.isin(prompt, list(unseen_p))
    held = np.zeros(len(arr), dtype=bool)
    order = np.full(len(arr), -1)
    for a in annotators:
        idx = rng.permutation(np.flatnonzero(ann == a))
        n_held = max(1, int(round(holdout * len(idx))))
        if a in unseen_a:
            held[idx[:n_held]] = True
            order[idx[n_held:]] = np.arange(len(idx) - n_held)  # adaptation order
        else:
            seen_p = idx[~is_new_p[idx]]
            held[seen_p[:max(1, int(round(holdout * len(seen_p))))] if len(seen_p) else []] = True
    train_idx = np.flatnonzero(~is_new_a & ~is_new_p & ~held)
    parts = {
        SPLITS[0]: np.flatnonzero(~is_new_a & ~is_new_p & held),
        SPLITS[1]: np.flatnonzero(~is_new_a & is_new_p),
        SPLITS[2]: np.flatnonzero(is_new_a & ~is_new_p),
        SPLITS[3]: np.flatnonzero(is_new_a & is_new_p),
    }
    train = _take(data, train_idx)
    evaluation = _take(data, np.flatnonzero(is_new_a & held))
    rows = []
    for name, make in makers.items():
        model = make().fit(train, features)
        for split, idx in parts.items():
            if len(idx):
                rows.append(_row(name, split, 0, model, _take(data, idx), features))
        for s in shots:
            adapted = model
            if s > 0:
                adapted = model.adapt(_take(data, np.flatnonzero(is_new_a & (order >= 0) & (order < s))), features)
            rows.append(_row(name, FEW_SHOT, s, adapted, evaluation, features))
        if reference:
            ref = make().fit(_take(data, np.r_[train_idx, np.flatnonzero(is_new_a & ~held)]), features)
            rows.append(_row(name, REFERENCE, int((order >= 0).sum() / max(len(unseen_a), 1)), ref, evaluation, features))
    return pd.DataFrame(rows)


def plot_personalization(table, ax=None):
    """Few-shot curves (log-likelihood vs shots, SE bars; the in-training level dashed) and the four splits."""
    from ..reporting import new_figure

    if ax is None:
        fig, (ax1, ax2) = new_figure(12, 4.5, ncols=2)
    else:
        fig, (ax1, ax2) = ax[0].figure, ax
    n_models = table.model.nunique()
    for i, (name, part) in enumerate(table.groupby("model", sort=False)):
        color = f"C{i}"
        few = part[part.split == FEW_SHOT].sort_values("shots")
        ax1.errorbar(few.shots, few.log_likelihood, yerr=few.log_likelihood_se, marker="o", color=color, label=name,
                     capsize=3)
        ref = part[part.split == REFERENCE]
        if len(ref):
            ax1.axhline(float(ref.log_likelihood.iloc[0]), color=color, ls="--", lw=1)
        four = part[part.split.isin(SPLITS) & (part.shots == 0)].set_index("split").reindex(list(SPLITS))
        # points, not bars: the differences between models are small next to the level
        x = np.arange(len(SPLITS)) + (i - (n_models - 1) / 2) * 0.12
        ax2.errorbar(x, four.log_likelihood, yerr=four.log_likelihood_se, fmt="o", color=color, label=name, capsize=2)
    ax1.set_xlabel("comparisons of the new annotator adapted on (shots)")
    ax1.set_ylabel("held-out log-likelihood (nats/comparison)")
    ax1.set_title("Few-shot adaptation\n(dashed: the same annotators in training)", fontsize=10)
    ax1.set_xticks(sorted(table.loc[table.split == FEW_SHOT, "shots"].unique()))
    ax1.legend(fontsize=8)
    ax2.set_xticks(np.arange(len(SPLITS)))
    ax2.set_xticklabels([s.replace(", ", ",\n") for s in SPLITS], fontsize=8)
    ax2.set_ylabel("log-likelihood (nats/comparison)")
    ax2.set_title("Seen/unseen annotators x prompts\n(unseen annotators: zero shots)", fontsize=10)
    return fig
