"""Calibration of a preference model's ``predict_proba`` on held-out comparisons.

Two questions: when the model says "a wins with probability 0.7", does a win 70% of the
time (the reliability table of each comparison)? And when several annotators judged the
same pair, does the model's probability match the fraction of them who chose each side
(pairwise calibration: what a population-level reward should get right)?
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

STRATEGIES = ("uniform", "quantile")


def _bins(pred, n_bins, strategy):
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    return np.percentile(pred, np.linspace(0, 100, n_bins + 1))


def reliability_table(pred, observed, n_bins=10, strategy="uniform", weights=None):
    """Binned predicted vs observed frequencies, and the expected calibration error.

    Bins and the assignment of predictions to bins are those of
    ``sklearn.calibration.calibration_curve`` (tested against it). It is written out here
    because calibration_curve returns neither the bin counts that the ECE weighs by nor
    accepts fractional outcomes (annotator fractions).

    Parameters
    ----------
    pred : array-like (n,)
        Predicted probabilities in [0, 1].
    observed : array-like (n,)
        Outcomes in [0, 1]: 0/1 labels, or fractions.
    n_bins : int, default 10
    strategy : {"uniform", "quantile"}, default "uniform"
    weights : array-like (n,), optional
        Weight of each prediction (default 1).

    Returns
    -------
    table : pandas.DataFrame
        One row per bin: ``bin``, ``lower``, ``upper``, ``count`` (weight), ``mean_predicted``,
        ``observed`` (NaN for an empty bin).
    ece : float
        ``sum_b (count_b / total) |observed_b - mean_predicted_b|``.

    Examples
    --------
    >>> table, ece = reliability_table([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 0], n_bins=2)
    >>> table[["count", "mean_predicted", "observed"]].round(3).values.tolist()
    [[2.0, 0.15, 0.0], [2.0, 0.85, 0.5]]
    >>> round(ece, 3)
    0.25
    """
    pred = np.asarray(pred, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    if pred.shape != observed.shape or pred.ndim != 1:
        raise DataError(f"reliability_table: pred {pred.shape} and observed {observed.shape}; expected two equal 1-d arrays")
    if len(pred) == 0:
        raise DataError("reliability_table: no predictions; expected at least one")
    if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 1):
        raise DataError(f"n_bins: got {n_bins!r}; expected a positive integer")
    if strategy not in STRATEGIES:
        raise DataError(f"strategy: got {strategy!r}; expected one of {STRATEGIES}")
    for name, v in (("pred", pred), ("observed", observed)):
        if not np.all(np.isfinite(v) & (v >= 0) & (v <= 1)):
            raise DataError(f"reliability_table: {name} has values outside [0, 1]")
    w = np.ones_like(pred) if weights is None else np.asarray(weights, dtype=np.float64)
    edges = _bins(pred, n_bins, strategy)
    ids = np.searchsorted(edges[1:-1], pred)
    count = np.bincount(ids, weights=w, minlength=n_bins)
    sum_pred = np.bincount(ids, weights=w * pred, minlength=n_bins)
    sum_obs = np.bincount(ids, weights=w * observed, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred, obs = sum_pred / count, sum_obs / count
    nonzero = count > 0
    ece = float(np.sum(count[nonzero] * np.abs(obs[nonzero] - mean_pred[nonzero])) / count.sum())
    table = pd.DataFrame(
        {"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:], "count": count,
         "mean_predicted": mean_pred, "observed": obs}
    )
    return table, ece


@dataclass
class Calibration:
    """The result of :func:`calibration`.

    Attributes
    ----------
    table : pandas.DataFrame
        Reliability table of the comparisons without a tie (:func:`reliability_table`):
        predicted ``P(a beats b | no tie)`` against how often a won.
    ece : float
        Expected calibration error of that table.
    brier : float
        Mean squared error of the same predictions against the 0/1 outcomes.
    n_comparisons, n_ties : int
        Comparisons used, and ties left out.
    pairs : pandas.DataFrame or None
        One row per pair of responses judged by at least ``min_annotators`` distinct
        annotators: ``prompt_id``, ``response_a``, ``response_b`` (a sorted first),
        ``n_judgments``, ``n_annotators``, ``fraction_a`` (share of judgments choosing a,
        ties half) and ``predicted_a`` (the model's mean half-tie probability of a over
        those judgments, each with its own annotator). None when no pair qualifies.
    pairs_table : pandas.DataFrame or None
        Reliability table of ``predicted_a`` against ``fraction_a`` (each pair weighted by
        its number of judgments).
    pairs_ece : float
        Its expected calibration error (NaN without pairs). Sampling noise of a fraction
        of few judgments averages out within a bin; it does not within a pair.
    """

    table: pd.DataFrame
    ece: float
    brier: float
    n_comparisons: int
    n_ties: int
    pairs: pd.DataFrame | None
    pairs_table: pd.DataFrame | None
    pairs_ece: float

    def plot(self, ax=None):
        """Reliability diagram; see :func:`plot_calibration`."""
        return plot_calibration(self, ax=ax)


def calibration(model, data, features, n_bins=10, strategy="uniform", min_annotators=2):
    """Reliability table and expected calibration error of ``model.predict_proba`` on held-out data.

    Parameters
    ----------
    model : fitted mixpref model
        Anything with ``predict_proba(data, features)`` (and optionally
        ``predict_tie_proba``).
    data : PreferenceData
        Held-out comparisons (rankings are expanded to their implied pairs first).
    features : Features
    n_bins : int, default 10
    strategy : {"uniform", "quantile"}, default "uniform"
        Equal-width bins, or bins with equal numbers of predictions.
    min_annotators : int, default 2
        A pair of responses enters the annotator-fraction calibration when at least this
        many distinct (known) annotators judged it.

    Returns
    -------
    Calibration

    Notes
    -----
    With a tie model (Davidson), the per-comparison table conditions on "no tie": the
    prediction is ``P(a) / (P(a) + P(b))`` and ties are left out (counted in ``n_ties``).
    The annotator fractions count a tie as half a win for each side and compare with the
    half-tie probability ``P(a) + P(tie) / 2``.

    Examples
    --------
    >>> import mixpref as mp
    >>> pop = mp.synthetic.population(n_types=1, dim=4, n_annotators=40, comparisons_per_annotator=25,
    ...                               n_prompts=5, responses_per_prompt=4, random_state=0)
    >>> train, test = pop.data.split(random_state=0)
    >>> model = mp.BradleyTerry().fit(train, pop.features)
    >>> result = calibration(model, test, pop.features, n_bins=5)
    >>> result.n_comparisons + result.n_ties == len(test), bool(0 <= result.ece <= 1)
    (True, True)
    """
    if not hasattr(model, "predict_proba"):
        raise DataError(f"model: expected a fitted model with predict_proba, got {type(model).__name__}")
    if len(getattr(data, "ranking_arrays", ())):
        data = data.implied_comparisons()
    arr = data.arrays
    if len(arr) == 0:
        raise DataError("calibration: the data has no comparisons; expected held-out comparisons")
    p_a = np.asarray(model.predict_proba(data, features), dtype=np.float64)
    p_tie = np.zeros_like(p_a)
    if hasattr(model, "predict_tie_proba"):
        p_tie = np.asarray(model.predict_tie_proba(data, features), dtype=np.float64)
    if p_a.shape != (len(arr),):
        raise DataError(f"calibration: predict_proba returned shape {p_a.shape}; expected ({len(arr)},)")
    y = np.asarray(arr.y, dtype=np.float64)
    tie = y == 0.5
    decisive = np.clip(1.0 - p_tie, 1e-300, None)
    cond = np.clip(p_a / decisive, 0.0, 1.0)
    if (~tie).any():
        table, ece = reliability_table(cond[~tie], y[~tie], n_bins=n_bins, strategy=strategy)
        brier = float(np.mean((cond[~tie] - y[~tie]) ** 2))
    else:
        table, ece, brier = None, np.nan, np.nan
    pairs = _annotator_pairs(data, p_a + p_tie / 2, y, min_annotators)
    if pairs is None:
        pairs_table, pairs_ece = None, np.nan
    else:
        pairs_table, pairs_ece = reliability_table(
            pairs["predicted_a"], pairs["fraction_a"], n_bins=n_bins, strategy=strategy, weights=pairs["n_judgments"]
        )
    return Calibration(table, ece, brier, int((~tie).sum()), int(tie.sum()), pairs, pairs_table, pairs_ece)


def _annotator_pairs(data, half_tie_a, y, min_annotators):
    """Per unordered pair of responses: the fraction of judgments choosing the first, and the model's."""
    if not (isinstance(min_annotators, (int, np.integer)) and min_annotators >= 1):
        raise DataError(f"min_annotators: got {min_annotators!r}; expected a positive integer")
    arr = data.arrays
    if not data.has_annotators or not (arr.annotator >= 0).any():
        return None
    lo, hi = np.minimum(arr.a, arr.b), np.maximum(arr.a, arr.b)
    flip = arr.a != lo  # orient every judgment as "lo beats hi"
    frame = pd.DataFrame(
        {
            "prompt": arr.prompt,
            "lo": lo,
            "hi": hi,
            "annotator": np.where(arr.annotator >= 0, arr.annotator, np.nan),
            "chose_lo": np.where(flip, 1.0 - y, y),
            "predicted_lo": np.where(flip, 1.0 - half_tie_a, half_tie_a),
        }
    )
    grouped = frame.groupby(["prompt", "lo", "hi"], sort=True).agg(
        n_judgments=("chose_lo", "size"),
        n_annotators=("annotator", "nunique"),
        fraction_a=("chose_lo", "mean"),
        predicted_a=("predicted_lo", "mean"),
    )
    grouped = grouped[grouped["n_annotators"] >= min_annotators].reset_index()
    if grouped.empty:
        return None
    rid = data.responses["response_id"].to_numpy(dtype=object)
    pid = data.prompts["prompt_id"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "prompt_id": pid[grouped["prompt"].to_numpy()],
            "response_a": rid[grouped["lo"].to_numpy()],
            "response_b": rid[grouped["hi"].to_numpy()],
            "n_judgments": grouped["n_judgments"].to_numpy(),
            "n_annotators": grouped["n_annotators"].to_numpy(),
            "fraction_a": grouped["fraction_a"].to_numpy(),
            "predicted_a": grouped["predicted_a"].to_numpy(),
        }
    )


def plot_calibration(result, ax=None):
    """Reliability diagram of a :class:`Calibration` (matplotlib); returns the Figure.

    The diagonal is perfect calibration; points are bins (area by count) of the
    comparisons and, when available, of the annotator fractions. The caller saves it, e.g.
    ``plot_calibration(result).savefig("calibration.png")``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
    else:
        fig = ax.figure
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    series = [(result.table, f"comparisons (ECE {result.ece:.3f})", "o")]
    if result.pairs_table is not None:
        series.append((result.pairs_table, f"annotator fractions (ECE {result.pairs_ece:.3f})", "s"))
    for table, label, marker in series:
        if table is None:
            continue
        t = table[table["count"] > 0]
        size = 20 + 200 * t["count"] / t["count"].max()
        ax.plot(t["mean_predicted"], t["observed"], marker=marker, label=label)
        ax.scatter(t["mean_predicted"], t["observed"], s=size, alpha=0.3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted P(a preferred)")
    ax.set_ylabel("observed frequency")
    ax.legend(loc="upper left", fontsize="small")
    return fig
