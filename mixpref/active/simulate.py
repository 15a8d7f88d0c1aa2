"""Simulated elicitation: suggest -> answer -> refit (or adapt) -> evaluate, with known answers.

A query reveals the label a pool row already holds: a synthetic pool's labels are drawn
from the population's ground truth (:func:`truth_pool`), a real dataset's are the recorded
answers, so the same loop serves simulation and real-data replay.

Examples
--------
>>> import mixpref as mp
>>> from mixpref import active
>>> pop = mp.synthetic.population(n_types=2, n_annotators=20, comparisons_per_annotator=20, dim=8)
>>> pool = active.truth_pool(pop, n_pairs=200, random_state=1)
>>> curve = active.simulate(mp.BradleyTerry(), pool, pop.features, objective="uncertainty",
...                            budget=40, step=20, n_initial=20, test=pop.data)
>>> curve["n_labels"].tolist()
[20, 40]
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..data.arrays import ComparisonArrays
from ..data.operations import take
from ..data.preference_data import PreferenceData
from ..errors import DataError
from .refit import refit
from .suggest import suggest


def truth_pool(population, n_pairs, annotators=None, types=None, random_state=0):
    """``n_pairs`` comparisons (random prompt, two of its responses, a random annotator) labelled by the truth.

    ``annotators`` (ids) and their ``types`` default to the population's; give new ids and
    types to make a pool for annotators the model has not seen.
    """
    data, truth = population.data, population.truth
    rng = np.random.default_rng(random_state)
    if annotators is None:
        annotators = list(truth.annotator_types.index)
        types = truth.annotator_types.to_numpy()
    types = np.asarray(types, dtype=np.int64)
    if len(types) != len(annotators):
        raise DataError(f"types: {len(types)} types for {len(annotators)} annotators; expected one type each")
    resp_prompt = pd.Index(data.prompts["prompt_id"]).get_indexer(data.responses["prompt_id"])
    by_prompt = [np.flatnonzero(resp_prompt == p) for p in range(len(data.prompts))]
    ok = np.flatnonzero([len(r) >= 2 for r in by_prompt])
    prompt = ok[rng.integers(0, len(ok), size=n_pairs)]
    first = np.empty(n_pairs, dtype=np.int64)
    second = np.empty(n_pairs, dtype=np.int64)
    for p in np.unique(prompt):
        rows = by_prompt[p]
        at = np.flatnonzero(prompt == p)
        pick = np.argsort(rng.random((len(at), len(rows))), axis=1)[:, :2]
        first[at], second[at] = rows[pick[:, 0]], rows[pick[:, 1]]
    ann = rng.integers(0, len(annotators), size=n_pairs)
    r = truth.rewards[types[ann]]  # (n_pairs, n_responses): truth.rewards follows the data's response order
    diff = r[np.arange(n_pairs), first] - r[np.arange(n_pairs), second]
    y = (rng.random(n_pairs) < 1.0 / (1.0 + np.exp(-diff))).astype(np.float64)
    arrays = ComparisonArrays(prompt.astype(np.int64), first, second, y, ann.astype(np.int64))
    return PreferenceData(data.prompts, data.responses, pd.Index(list(annotators)), arrays, None,
                          response_key=data._response_key)


def _evaluate(model, features, test, labels):
    row = {}
    if test is not None:
        row["log_likelihood"] = float(model.score(test, features))
    if labels is not None and getattr(model, "spec_", None) is not None and model.spec_.n_types > 1:
        from sklearn.metrics import adjusted_rand_score

        assigned = model.assign()
        common = assigned.index.intersection(labels.index)
        row["ari"] = float(adjusted_rand_score(labels.loc[common], assigned.loc[common])) if len(common) else np.nan
    return row


def simulate(model, pool, features, *, objective, budget, step, n_initial=None, test=None, labels=None,
             batch="greedy", random_state=0, n_draws=64, evaluate=None, warm_start=True):
    """Learning curve of ``objective``: start from ``n_initial`` random labels, then ask ``step`` at a time.

    Each round fits a fresh copy of ``model`` (its constructor arguments) to the labels
    revealed so far (``warm_start``: a mixture's previous round's fit is one more start, the
    best training objective wins, :func:`mixpref.active.refit.refit`), evaluates it, and asks ``suggest`` for the next ``step`` rows of
    ``pool`` (labelled PreferenceData: a query reveals the row's label), until ``budget``
    labels. The initial labels depend only on ``random_state``, so objectives compared
    with one seed start from the same labels.

    Returns
    -------
    DataFrame
        One row per round: ``n_labels``, ``log_likelihood`` (mean per held-out comparison of
        ``test``, unseen annotators predicted prequentially) and ``ari`` (types vs ``labels``,
        a Series of true types by annotator, for mixtures), ``seconds``, ``warm_start`` (the
        previous round's start won), plus whatever
        ``evaluate(model)`` returns (a dict). ``attrs["asked"]``: the pool rows asked, in order.
    """
    if not isinstance(pool, PreferenceData):
        raise DataError("pool: simulate needs a labelled PreferenceData (a query reveals a row's label)")
    data = pool.implied_comparisons() if len(pool.ranking_arrays) else pool
    P = len(data.arrays)
    if budget > P:
        raise DataError(f"budget: got {budget}, but the pool holds only {P} comparisons; expected budget <= pool size")
    n_initial = step if n_initial is None else int(n_initial)
    rng = np.random.default_rng(random_state)
    asked = list(rng.choice(P, size=min(n_initial, budget), replace=False))
    rows = []
    fitted = None
    while True:
        t0 = time.perf_counter()
        # refit logs nowhere: the loop's many refits are not runs of their own (the caller logs the curve)
        fitted = refit(model, take(data, np.asarray(asked), []), features, previous=fitted if warm_start else None)
        row = {"objective": objective, "n_labels": len(asked), "warm_start": fitted.warm_start_}
        row.update(_evaluate(fitted, features, test, labels))
        if evaluate is not None:
            row.update(evaluate(fitted))
        if len(asked) >= budget:
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            break
        nxt = suggest(fitted, data, features, n=min(step, budget - len(asked)), objective=objective, batch=batch,
                      random_state=random_state + len(asked), n_draws=n_draws, exclude=np.asarray(asked))
        asked.extend(nxt["pool_index"].tolist())
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    curve = pd.DataFrame(rows)
    curve.attrs["asked"] = tuple(int(i) for i in asked)  # a tuple: pandas compares attrs when frames are joined
    return curve


def onboard(model, pool, features, annotator, true_type, *, objective="type", max_questions=50, threshold=0.95,
            random_state=0):
    """Ask a new ``annotator`` one question at a time until their posterior on ``true_type`` reaches ``threshold``.

    ``pool``: the annotator's candidate comparisons, labelled with their answers. After each
    answer the model is adapted to all answers so far (``model.adapt``; population frozen).
    Returns a dict: ``questions`` (how many were needed; NaN if not reached within
    ``max_questions``), ``posterior`` (on the true type after each question, starting with
    the prior), ``objective``.
    """
    data = pool.implied_comparisons() if len(pool.ranking_arrays) else pool
    asked = []
    current = model
    post = [float(np.asarray(model.weights_)[true_type])]
    needed = np.nan
    if post[0] >= threshold:
        needed = 0
    while np.isnan(needed) and len(asked) < min(max_questions, len(data.arrays)):
        pick = suggest(current, data, features, n=1, objective=objective, annotator=annotator, batch="top",
                       random_state=random_state + len(asked), exclude=np.asarray(asked, dtype=np.int64))
        asked.append(int(pick["pool_index"].iloc[0]))
        answers = take(data, np.asarray(asked), [])
        current = model.adapt(answers, features) if hasattr(model, "adapt") else None
        if current is not None:
            p = current.responsibilities_.loc[annotator].to_numpy()
        else:
            current = model
            p = model.type_posterior(answers, features).loc[annotator].to_numpy()
        post.append(float(p[true_type]))
        if post[-1] >= threshold:
            needed = len(asked)
    return {"objective": objective, "questions": needed, "posterior": post}
