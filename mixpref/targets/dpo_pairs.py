"""Turn a lottery (an aggregate's distribution over each prompt's candidates) into DPO pairs.

A pair's chosen response is the one the lottery ranks higher: higher probability, then
higher score (rules that put all mass on one winner rank the rest by score). Each pair
carries the aggregate's probability that chosen beats rejected (``p_chosen``, a soft
label), each response's win probability against the lottery (the SPPO target), and a
weight; every prompt's weights sum to 1 so that prompts with many candidates do not
dominate a weighted loss.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit

from ..errors import DataError
from .reference import reference_logprobs

STRATEGIES = ("winner_vs_rest", "all_pairs", "sampled")

# probabilities and scores closer than this are ties: an LP's equal masses differ by rounding
_TIE_TOL = 1e-9

COLUMNS = [
    "prompt_id", "chosen_id", "rejected_id", "prompt", "chosen", "rejected", "p_chosen", "weight", "rule",
    "win_prob_chosen", "win_prob_rejected", "margin",
]


def _lottery_arrays(lottery):
    missing = [a for a in ("probs", "candidates", "mask", "prompts") if not hasattr(lottery, a)]
    if missing:
        raise DataError(
            f"lottery: got {type(lottery).__name__} without attribute(s) {missing}; expected a mp.Lottery "
            "(from mp.aggregate(profile, rule))"
        )
    probs = np.asarray(lottery.probs, dtype=np.float64)
    mask = np.asarray(lottery.mask, dtype=bool)
    cand = np.asarray(lottery.candidates, dtype=object)
    if probs.ndim != 2 or probs.shape != mask.shape or cand.shape != mask.shape:
        raise DataError(
            f"lottery: probs {probs.shape}, candidates {cand.shape} and mask {mask.shape} must share one (P, M) shape"
        )
    scores = getattr(lottery, "scores", None)
    scores = np.full(probs.shape, np.nan) if scores is None else np.asarray(scores, dtype=np.float64)
    pairwise = getattr(lottery, "pairwise", None)
    if pairwise is not None:
        pairwise = np.asarray(pairwise, dtype=np.float64)
        if pairwise.shape != probs.shape + probs.shape[1:]:
            raise DataError(f"lottery: pairwise has shape {pairwise.shape}, expected {probs.shape + probs.shape[1:]}")
    prompts = pd.Index(lottery.prompts)
    if len(prompts) != probs.shape[0]:
        raise DataError(f"lottery: {len(prompts)} prompts for {probs.shape[0]} rows of probs")
    return prompts, cand, mask, probs, scores, pairwise, str(getattr(lottery, "rule", ""))


def _text_lookup(data_or_candidates):
    """(prompt text by prompt id, response text by (prompt id, response id), messages or None)."""
    if data_or_candidates is None:
        return None
    if hasattr(data_or_candidates, "prompts") and hasattr(data_or_candidates, "responses"):
        prompts, responses = data_or_candidates.prompts, data_or_candidates.responses
        conv = "messages" in prompts.columns and "messages" in responses.columns
        p_text = dict(zip(prompts["prompt_id"], prompts["text"]))
        r_text = {(p, r): t for p, r, t in zip(responses["prompt_id"], responses["response_id"], responses["text"])}
        if conv:
            p_msg = dict(zip(prompts["prompt_id"], prompts["messages"]))
            r_msg = {(p, r): m for p, r, m in zip(responses["prompt_id"], responses["response_id"], responses["messages"])}
            return p_text, r_text, (p_msg, r_msg)
        return p_text, r_text, None
    if isinstance(data_or_candidates, pd.DataFrame):
        df = data_or_candidates
        missing = [c for c in ("prompt_id", "response_id") if c not in df.columns]
        if missing:
            raise DataError(
                f"data_or_candidates: missing column(s) {missing}; expected a PreferenceData or a DataFrame with "
                f"'prompt_id', 'response_id' and optionally 'prompt', 'response' texts (got {list(df.columns)})"
            )
        p_text = dict(zip(df["prompt_id"], df["prompt"])) if "prompt" in df.columns else None
        r_text = (
            {(p, r): t for p, r, t in zip(df["prompt_id"], df["response_id"], df["response"])}
            if "response" in df.columns else None
        )
        return p_text, r_text, None
    raise DataError(
        f"data_or_candidates: got {type(data_or_candidates).__name__}, expected a PreferenceData or a DataFrame "
        "with columns 'prompt_id', 'response_id', 'prompt', 'response'"
    )


def _tied(a, b):
    return abs(a - b) <= _TIE_TOL


def _ranked_pairs(q, s, strategy, n_pairs, rng):
    """Pairs (chosen, rejected) of local candidate indices for one prompt."""
    m = len(q)
    s_key = np.where(np.isnan(s), -np.inf, s)
    order = sorted(range(m), key=lambda j: (-q[j], -s_key[j], j))
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)

    def tie(i, j):
        same_score = (np.isnan(s[i]) and np.isnan(s[j])) or (np.isfinite(s_key[i]) and _tied(s[i], s[j]))
        return _tied(q[i], q[j]) and same_score

    def orient(i, j):
        return (i, j) if rank[i] < rank[j] else (j, i)

    if strategy == "winner_vs_rest":
        top = order[0]
        pairs = [(top, j) for j in order[1:] if not tie(top, j)]
    elif strategy == "all_pairs":
        pairs = [(order[a], order[b]) for a in range(m) for b in range(a + 1, m) if not tie(order[a], order[b])]
    else:
        # draw the first response from the lottery and the second uniformly among the others,
        # so candidates the lottery favours appear (and are chosen) more often
        k = n_pairs if n_pairs is not None else m - 1
        pairs = []
        if m > 1:
            first = rng.choice(m, size=k, p=q / q.sum()) if q.sum() > 0 else rng.integers(0, m, size=k)
            offset = rng.integers(1, m, size=k)
            for i, o in zip(first, offset):
                j = (i + o) % m
                if not tie(i, j):
                    pairs.append(orient(int(i), int(j)))
        return pairs
    if n_pairs is not None and len(pairs) > n_pairs:
        # keep the pairs the lottery separates most
        pairs = sorted(pairs, key=lambda cr: -(q[cr[0]] - q[cr[1]]))[:n_pairs]
    return pairs


LABELS = ("pairwise", "lottery")


def to_dpo_pairs(lottery, data_or_candidates=None, strategy="winner_vs_rest", n_pairs=None, min_margin=0.0,
                 random_state=0, labels=None, beta=None, reference=None, confidence=None, soft_labels="mean"):
    """DPO training pairs from a lottery.

    Parameters
    ----------
    lottery : mp.Lottery
        From ``mp.aggregate(profile, rule)``; uses ``probs``, ``scores``, ``pairwise``, ``rule``,
        ``prompts``, ``candidates``, ``mask``.
    data_or_candidates : PreferenceData or pandas.DataFrame, optional
        Where the texts come from: a PreferenceData (``prompts``/``responses`` tables), or a
        DataFrame [``prompt_id``, ``response_id``, ``prompt``, ``response``]. Without texts the
        ``prompt``/``chosen``/``rejected`` columns hold the ids.
    strategy : {"winner_vs_rest", "all_pairs", "sampled"}
        ``winner_vs_rest``: the lottery's top candidate against each other candidate;
        ``all_pairs``: every pair the lottery orders; ``sampled``: ``n_pairs`` draws per
        prompt (default M − 1) of a first response from the lottery and a second uniformly
        among the others, oriented by the lottery.
    n_pairs : int, optional
        Pairs per prompt: draws for ``sampled``; for the others, the ``n_pairs`` pairs with
        the largest lottery margin.
    min_margin : float
        Drop pairs whose lottery margin ``prob(chosen) − prob(rejected)`` is below this.
        Candidates with equal probability and score are never paired.
    random_state : int
        Seeds ``sampled``.
    labels : {"pairwise", "lottery"}, optional
        What ``p_chosen`` holds: the aggregate's head-to-head probability (``pairwise``, the
        default without ``beta``), or labels whose soft-DPO optimum is the lottery
        (``lottery``, the default with ``beta``): ``σ(β·[log(q_c/ref_c) − log(q_r/ref_r)])``,
        which is ``q_c / (q_c + q_r)`` at β = 1 from a uniform reference (½ when both are 0).
    beta : float, optional
        The trainer's β (TRL's and ``mp.dpo.train_*``'s default is 0.1). Soft-label DPO
        (``loss="soft"``, or ``"sigmoid"`` with soft labels) at this β and this reference
        then has the lottery as its optimum: for a policy that can put any distribution on
        each prompt's candidates (a tabular softmax), trained to convergence, on pairs that
        connect the lottery's support (``winner_vs_rest`` and ``all_pairs`` do). Candidates
        with zero mass get hard labels and approach 0 only in the limit. Default: β = 1.
    reference : array (P, M), Lottery-like with ``probs``, or DataFrame, optional
        The trainer's reference policy over the candidates: probabilities aligned with the
        lottery, or a table [``prompt_id``, ``response_id``, ``prob`` or ``logprob``] (a
        reference LM's summed log-probabilities). Default: uniform.
    confidence, soft_labels : optional
        For a LotteryPosterior (``mp.aggregate(..., posterior=True)``): pairs come from its
        mean lottery, pairs whose preference has posterior probability below ``confidence``
        are dropped, and ``soft_labels="lower"`` takes ``p_chosen`` at the lower credible
        bound; see :mod:`mixpref.targets.conservative` (adds ``support``).

    Returns
    -------
    pandas.DataFrame
        Columns ``prompt_id``, ``chosen_id``, ``rejected_id``, ``prompt``, ``chosen``,
        ``rejected`` (texts; the ids when no texts are given), ``p_chosen`` (the soft label:
        with ``labels="pairwise"`` the aggregate's P(chosen beats rejected), ties counted
        half, ``(1 + P̄_cr − P̄_rc) / 2``; with ``labels="lottery"`` the label whose soft-DPO
        optimum at ``beta`` and ``reference`` is the lottery), ``weight`` (each prompt's
        weights sum to 1), ``rule``, ``win_prob_chosen``, ``win_prob_rejected`` (win
        probability against the lottery, ``pairwise @ probs`` with ties counted half, as
        ``lottery.win_probabilities()``), ``margin`` (``prob(chosen) − prob(rejected)`` in
        the lottery); plus ``prompt_messages``, ``chosen_messages``, ``rejected_messages``
        for conversational data. A column that cannot be computed from the input (the
        ``win_prob_*`` columns and pairwise ``p_chosen`` of a lottery without ``pairwise``)
        is left out with a warning, never filled with NaN.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> profile = mp.Profile(np.array([[[[0.5, 0.8], [0.2, 0.5]]]]), np.array([1.0]))
    >>> pairs = mp.to_dpo_pairs(mp.aggregate(profile, "borda"))
    >>> pairs[["chosen_id", "rejected_id", "p_chosen"]].values.tolist()
    [[0, 1, 0.8]]
    """
    if confidence is not None or soft_labels != "mean" or hasattr(lottery, "support_probability"):
        from .conservative import check_posterior, keep_supported  # a posterior: pairs its draws support

        pairs = to_dpo_pairs(check_posterior(lottery).mean, data_or_candidates, strategy=strategy, n_pairs=n_pairs,
                             min_margin=min_margin, random_state=random_state, labels=labels, beta=beta,
                             reference=reference)
        return keep_supported(lottery, pairs, confidence, soft_labels, labels, beta, reference)
    if strategy not in STRATEGIES:
        raise DataError(f"strategy: got {strategy!r}, expected one of {', '.join(STRATEGIES)}")
    if labels is None:
        labels = "lottery" if (beta is not None or reference is not None) else "pairwise"
    if labels not in LABELS:
        raise DataError(f"labels: got {labels!r}, expected one of {', '.join(LABELS)}")
    if labels == "pairwise" and (beta is not None or reference is not None):
        raise DataError(
            "labels='pairwise' with beta/reference: head-to-head probabilities do not depend on the trainer's beta "
            "or reference, so their DPO optimum is not the lottery; use labels='lottery' (the default with beta)"
        )
    beta = _positive(beta, "beta")
    if n_pairs is not None:
        try:
            ok = int(n_pairs) == n_pairs and n_pairs >= 1
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise DataError(f"n_pairs: got {n_pairs!r}, expected a positive integer or None")
        n_pairs = int(n_pairs)
    try:
        min_margin = float(min_margin)
    except (TypeError, ValueError):
        raise DataError(f"min_margin: got {min_margin!r}, expected a number") from None
    prompts, cand, mask, probs, scores, pairwise, rule = _lottery_arrays(lottery)
    texts = _text_lookup(data_or_candidates)
    rng = np.random.default_rng(random_state)
    log_ref = reference_logprobs(reference, prompts, cand, mask) if labels == "lottery" else None

    # half-tie preference (1 + P_ij - P_ji) / 2: equals P_ij when the model has no ties, and
    # otherwise counts a tie as half a win, so that p(i over j) + p(j over i) = 1 as a label
    # must; on the diagonal it is 1/2 (a candidate drawn against itself ties)
    if pairwise is not None:
        half = 0.5 * (1.0 + pairwise - np.swapaxes(pairwise, 1, 2))
        win = np.einsum("pij,pj->pi", np.where(mask[:, None, :], half, 0.0), np.where(mask, probs, 0.0))
    else:
        half = None
        win = np.full(probs.shape, np.nan)

    rows = []
    for p, pid in enumerate(prompts):
        local = np.flatnonzero(mask[p])
        q, s = probs[p, local], scores[p, local]
        pairs = _ranked_pairs(q, s, strategy, n_pairs, rng)
        pairs = [(c, r) for c, r in pairs if q[c] - q[r] >= min_margin - _TIE_TOL]
        for c, r in pairs:
            jc, jr = local[c], local[r]
            rows.append((pid, cand[p, jc], cand[p, jr],
                         _label(labels, half, p, jc, jr, q[c], q[r], beta, log_ref),
                         1.0 / len(pairs), rule, win[p, jc], win[p, jr], q[c] - q[r]))
    out = pd.DataFrame(rows, columns=["prompt_id", "chosen_id", "rejected_id", "p_chosen", "weight", "rule",
                                      "win_prob_chosen", "win_prob_rejected", "margin"])
    for column in ("prompt_id", "chosen_id", "rejected_id"):
        out[column] = out[column].astype(object)
    _add_texts(out, texts)
    columns = COLUMNS + [c for c in out.columns if c.endswith("_messages")]
    if pairwise is None:
        # never hand on a column of NaN that looks like data: leave it out and say why
        dropped = ["win_prob_chosen", "win_prob_rejected"] + (["p_chosen"] if labels == "pairwise" else [])
        warnings.warn(
            f"to_dpo_pairs: the lottery carries no pooled matrix (lottery.pairwise is None), so column(s) {dropped} "
            "cannot be computed and are left out; build the lottery with mp.aggregate(profile, rule), or pass "
            "labels='lottery' for p_chosen",
            UserWarning, stacklevel=2,
        )
        columns = [c for c in columns if c not in dropped]
    return out[columns]


def _positive(value, name):
    if value is None:
        return 1.0
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name}: got {value!r}, expected a positive number") from None
    if not value > 0 or not np.isfinite(value):
        raise DataError(f"{name}: got {value}, expected a positive number")
    return value


def _label(labels, half, p, jc, jr, qc, qr, beta, log_ref):
    if labels == "lottery":
        # soft DPO's optimum sets β·(log π_c/ref_c − log π_r/ref_r) = logit(p); choosing p this
        # way makes π = lottery that optimum. A zero-mass side gives a hard label (its log is -inf)
        if qc <= 0 and qr <= 0:
            return 0.5
        if qr <= 0:
            return 1.0
        if qc <= 0:
            return 0.0
        z = beta * (np.log(qc) - log_ref[p, jc] - np.log(qr) + log_ref[p, jr])
        return float(expit(z))
    return np.nan if half is None else half[p, jc, jr]


def _add_texts(out, texts):
    p_text, r_text, messages = texts if texts is not None else (None, None, None)
    if p_text is None:
        out["prompt"] = out["prompt_id"]
    else:
        out["prompt"] = [_lookup(p_text, pid, "prompt", row, pid) for row, pid in enumerate(out["prompt_id"])]
    for side in ("chosen", "rejected"):
        ids = out[f"{side}_id"]
        if r_text is None:
            out[side] = ids
        else:
            out[side] = [_lookup(r_text, (pid, rid), side, row, rid) for row, (pid, rid) in enumerate(zip(out["prompt_id"], ids))]
    if messages is not None:
        p_msg, r_msg = messages
        out["prompt_messages"] = [p_msg.get(pid) for pid in out["prompt_id"]]
        for side in ("chosen", "rejected"):
            out[f"{side}_messages"] = [r_msg.get((pid, rid)) for pid, rid in zip(out["prompt_id"], out[f"{side}_id"])]


def _lookup(table, key, column, row, shown):
    if key not in table:
        what = "prompt" if column == "prompt" else "response"
        raise DataError(
            f"data_or_candidates: {what} {shown!r} (pair {row}, column {column!r}) has no text; "
            "expected the lottery's prompts and candidates to be in the data"
        )
    return table[key]


_SWAP = [("chosen_id", "rejected_id"), ("chosen", "rejected"), ("win_prob_chosen", "win_prob_rejected"),
         ("chosen_messages", "rejected_messages")]


def resample_soft_labels(df, random_state=0):
    """Flip each pair with probability ``1 − p_chosen``: soft-label DPO in expectation.

    For trainers that take only hard (prompt, chosen, rejected) pairs, such as TRL's
    DPOTrainer: the expected sigmoid loss over the flips is the soft (cDPO) loss with
    label ``p_chosen``. Flipped rows swap chosen and rejected (ids, texts, win
    probabilities, messages), take ``p_chosen ← 1 − p_chosen`` and ``margin ← −margin``,
    and are marked in a ``flipped`` column.

    Parameters
    ----------
    df : pandas.DataFrame
        Pairs with ``chosen``, ``rejected`` and ``p_chosen``.
    random_state : int

    Returns
    -------
    pandas.DataFrame
        A new frame, same rows and order.

    Examples
    --------
    >>> import pandas as pd, mixpref as mp
    >>> df = pd.DataFrame({"prompt": ["Q"] * 4, "chosen": ["y"] * 4, "rejected": ["n"] * 4,
    ...                    "p_chosen": [1.0, 1.0, 0.0, 0.0]})
    >>> mp.resample_soft_labels(df)["chosen"].tolist()
    ['y', 'y', 'n', 'n']
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df: got {type(df).__name__}, expected a pandas DataFrame of pairs")
    missing = [c for c in ("chosen", "rejected", "p_chosen") if c not in df.columns]
    if missing:
        raise DataError(f"df: missing column(s) {missing}; expected 'chosen', 'rejected', 'p_chosen'")
    p = pd.to_numeric(df["p_chosen"], errors="coerce").to_numpy(dtype=np.float64)  # text -> NaN -> error below
    bad = np.flatnonzero(~((p >= 0) & (p <= 1)))
    if bad.size:
        raise DataError(
            f"df: column 'p_chosen', row {int(bad[0])}: got {df['p_chosen'].iloc[bad[0]]!r}, "
            "expected a probability in [0, 1]"
        )
    flip = np.random.default_rng(random_state).random(len(df)) >= p
    out = df.copy()
    for a, b in _SWAP:
        if a in out.columns and b in out.columns:
            va, vb = out[a].to_numpy(copy=True), out[b].to_numpy(copy=True)
            out[a] = np.where(flip, vb, va)
            out[b] = np.where(flip, va, vb)
    out["p_chosen"] = np.where(flip, 1 - p, p)
    if "margin" in out.columns:
        m = out["margin"].to_numpy(dtype=np.float64)
        out["margin"] = np.where(flip, -m, m)
    out["flipped"] = flip
    return out
