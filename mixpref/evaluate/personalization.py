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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

SPLITS = ("seen annotators, seen prompts", "seen annotators, unseen prompts", "unseen annotators, seen prompts",
          "unseen annotators, unseen prompts")
FEW_SHOT = "unseen annotators, few-shot"
REFERENCE = "unseen annotators, in training"
ADAPTED_ALL = "unseen annotators, adapted on all"


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


def summary_row(name, split, shots, ll, p, y, groups):
    """One row of the table: mean log-likelihood and accuracy (ties left out of it), annotator-clustered SEs."""
    decided = y != 0.5
    correct = ((p > 0.5) == (y == 1.0)).astype(float)[decided]
    m, se = _clustered(ll, groups)
    acc, acc_se = _clustered(correct, groups[decided])
    return {"model": name, "split": split, "shots": shots, "n": int(len(ll)), "log_likelihood": m,
            "log_likelihood_se": se, "accuracy": acc, "accuracy_se": acc_se}


def _row(name, split, shots, model, data, features, new_annotators="prior"):
    arr = data.arrays
    ll = model.log_likelihood(data, features, new_annotators=new_annotators)[: len(arr)]
    return summary_row(name, split, shots, ll, model.predict_proba(data, features), arr.y, arr.annotator)


@dataclass
class Split:
    """Which comparisons play which part in :func:`personalization` (indices into ``data``'s comparisons).

    ``train``: seen annotators on seen prompts, less their held-out fifth; ``parts``: the
    four LoRe splits; ``evaluation``: the held-out comparisons of the unseen annotators;
    ``order``: each other comparison of an unseen annotator, its place in their adaptation
    sequence (-1 for every comparison that is not one); ``unseen``: the unseen annotators' codes.
    """

    train: np.ndarray
    parts: dict
    evaluation: np.ndarray
    order: np.ndarray
    unseen: np.ndarray

    def adaptation(self, shots=None) -> np.ndarray:
        """The first ``shots`` adaptation comparisons of every unseen annotator (all of them: ``None``)."""
        keep = self.order >= 0 if shots is None else (self.order >= 0) & (self.order < shots)
        return np.flatnonzero(keep)


def split(data, unseen_annotators=0.2, unseen_prompts=0.2, holdout=0.2, random_state=0) -> Split:
    """The split :func:`personalization` scores on (same arguments, same random draws)."""
    if not data.has_annotators:
        raise DataError("personalization: the data has no annotator column; expected annotator ids")
    rng = np.random.default_rng(random_state)
    arr = data.arrays
    ann, prompt = arr.annotator, arr.prompt
    annotators = np.unique(ann[ann >= 0])
    prompts = np.unique(prompt)
    if len(annotators) < 5:
        raise DataError(f"personalization: {len(annotators)} annotators; expected at least 5 to hold some out")
    if isinstance(unseen_annotators, (int, np.integer)) and not isinstance(unseen_annotators, bool):
        n_new = int(unseen_annotators)  # a fixed number (LoRe holds out a fixed set of users)
    elif isinstance(unseen_annotators, float) and 0 < unseen_annotators < 1:
        n_new = max(1, int(round(unseen_annotators * len(annotators))))
    else:
        n_new = -1
    if not 1 <= n_new <= len(annotators) - 2:
        raise DataError(f"unseen_annotators: got {unseen_annotators!r}, expected a fraction in (0, 1) or a count "
                        f"from 1 to {len(annotators) - 2} (of {len(annotators)} annotators)")
    unseen_a = rng.choice(annotators, size=n_new, replace=False)
    # one prompt (items compared without context, as in surveys): no unseen-prompt splits
    n_p = int(round(unseen_prompts * len(prompts))) if len(prompts) >= 2 else 0
    unseen_p = set(rng.choice(prompts, size=max(1, n_p), replace=False)) if n_p else set()
    is_new_a = np.isin(ann, unseen_a)
    is_new_p = np.isin(prompt, list(unseen_p))
    held = np.zeros(len(arr), dtype=bool)
    order = np.full(len(arr), -1)
    new_set = set(unseen_a.tolist())
    for a in annotators:
        idx = rng.permutation(np.flatnonzero(ann == a))
        n_held = max(1, int(round(holdout * len(idx))))
        if a in new_set:
            held[idx[:n_held]] = True
            order[idx[n_held:]] = np.arange(len(idx) - n_held)  # adaptation order
        else:
            seen_p = idx[~is_new_p[idx]]
            held[seen_p[:max(1, int(round(holdout * len(seen_p))))] if len(seen_p) else []] = True
    parts = {
        SPLITS[0]: np.flatnonzero(~is_new_a & ~is_new_p & held),
        SPLITS[1]: np.flatnonzero(~is_new_a & is_new_p),
        SPLITS[2]: np.flatnonzero(is_new_a & ~is_new_p),
        SPLITS[3]: np.flatnonzero(is_new_a & is_new_p),
    }
    return Split(train=np.flatnonzero(~is_new_a & ~is_new_p & ~held), parts=parts,
                 evaluation=np.flatnonzero(is_new_a & held), order=order, unseen=np.sort(unseen_a))


def personalization(make_model, data, features, shots=(0, 1, 2, 5, 10, 20), unseen_annotators=0.2,
                    unseen_prompts=0.2, holdout=0.2, reference=True, shots_all=True, oracle=None,
                    random_state=0) -> pd.DataFrame:
    """Score models on the four seen/unseen splits and on few-shot adaptation (tidy DataFrame).

    Parameters
    ----------
    make_model : callable or dict of name -> callable
        Each call returns a new, unfitted model.
    data, features : PreferenceData (comparisons, with annotators), Features
    shots : sequence of int
        Comparisons of each unseen annotator to adapt on (0: the population alone).
    unseen_annotators : float or int
        Annotators held out: a fraction of them, or (an int) a fixed number.
    unseen_prompts, holdout : float
        Fractions held out: of the prompts, of each annotator's comparisons.
    reference : bool
        Also fit with the unseen annotators' adaptation comparisons in training (split
        ``"unseen annotators, in training"``).
    shots_all : bool
        Also adapt on all of their adaptation comparisons (split ``"unseen annotators,
        adapted on all"``): against the reference, the cost of a population fitted without them.
    oracle : :class:`mixpref.evaluate.few_shot_oracle.Oracle`, optional
        The generating model, where known: adds its exact Bayes few-shot rows (model
        ``"Bayes oracle"``, the same splits, plus ``"unseen annotators, true weights"``).
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
    sp = split(data, unseen_annotators, unseen_prompts, holdout, random_state)
    n_all = int(round(len(sp.adaptation()) / max(len(sp.unseen), 1)))  # mean adaptation comparisons per annotator
    train = _take(data, sp.train)
    evaluation = _take(data, sp.evaluation)
    rows = []
    for name, make in makers.items():
        model = make().fit(train, features)
        for part, idx in sp.parts.items():
            if len(idx):
                rows.append(_row(name, part, 0, model, _take(data, idx), features))
        for s in shots:
            adapted = model.adapt(_take(data, sp.adaptation(s)), features) if s > 0 else model
            rows.append(_row(name, FEW_SHOT, s, adapted, evaluation, features))
        if shots_all:
            rows.append(_row(name, ADAPTED_ALL, n_all, model.adapt(_take(data, sp.adaptation()), features),
                             evaluation, features))
        if reference:
            ref = make().fit(_take(data, np.r_[sp.train, sp.adaptation()]), features)
            rows.append(_row(name, REFERENCE, n_all, ref, evaluation, features))
    if oracle is not None:
        rows += oracle.rows(data, sp, shots, n_all)
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
