"""Synthetic populations of annotator types with known ground truth.

Each of K types has a reward vector ``w_k`` in the embedding space; an annotator of type k
prefers response a to b with probability ``sigmoid(w_k . (phi_a - phi_b))`` (Davidson ties,
Plackett-Luce rankings optional). The signal strength is set as the standard deviation of
the true logits, the quantity that decides whether types can be told apart at all.

Examples
--------
>>> import mixpref as mp
>>> pop = mp.synthetic.population(n_types=3, n_annotators=30, comparisons_per_annotator=20, dim=16)
>>> pop.truth.reward_vectors.shape, len(pop.data), pop.features.dim
((3, 16), 600, 16)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from .features import Features
from .arrays import ComparisonArrays, RankingArrays
from .preference_data import PreferenceData

DEFAULT_WEIGHTS = {1: (1.0,), 2: (0.6, 0.4), 3: (0.5, 0.3, 0.2)}
CYCLE_WEIGHTS = (0.4, 0.35, 0.25)


@dataclass
class SyntheticTruth:
    """What generated the data.

    Attributes
    ----------
    reward_vectors : ndarray (K, d)
    weights : ndarray (K,)
        Type weights used to draw the annotators' types.
    annotator_types : pandas.Series
        True type of each annotator, indexed by annotator id.
    rewards : ndarray (K, n_responses)
        True reward of each response for each type, in ``features`` order.
    tie_strength : float
        Davidson's tie parameter nu (0: no ties).
    """

    reward_vectors: np.ndarray
    weights: np.ndarray
    annotator_types: pd.Series
    rewards: np.ndarray
    tie_strength: float = 0.0


@dataclass
class SyntheticPopulation:
    """``data``, ``features`` and the generating ``truth`` of a synthetic population."""

    data: PreferenceData
    features: Features
    truth: SyntheticTruth

    def __iter__(self):
        return iter((self.data, self.features, self.truth))


def _weights(n_types, weights, condorcet_cycle):
    if weights is None:
        if condorcet_cycle:
            weights = CYCLE_WEIGHTS
        else:
            weights = DEFAULT_WEIGHTS.get(n_types, tuple(np.arange(n_types, 0, -1) / (n_types * (n_types + 1) / 2)))
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_types,) or (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise DataError(f"synthetic: weights={weights!r}; expected {n_types} nonnegative numbers summing to 1")
    return w


def _exact_types(weights, n_annotators, rng):
    # Largest-remainder counts: the realised type shares match the weights as closely as
    # n_annotators allows, so recovery numbers are not blurred by sampling noise in sizes.
    raw = weights * n_annotators
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts))[: n_annotators - counts.sum()]] += 1
    types = np.repeat(np.arange(len(weights)), counts)
    return rng.permutation(types)


def population(
    n_types=3,
    weights=None,
    dim=384,
    n_annotators=300,
    comparisons_per_annotator=100,
    logit_sd=2.0,
    n_prompts=50,
    responses_per_prompt=20,
    tie_rate=0.0,
    ranking_size=None,
    condorcet_cycle=False,
    embeddings=None,
    random_state=0,
) -> SyntheticPopulation:
    """Draw a population of annotator types and their observations.

    Parameters
    ----------
    n_types : int
        Number of annotator types K.
    weights : sequence of float, optional
        Type weights (default 0.5/0.3/0.2 for K = 3, 0.6/0.4 for K = 2, decreasing otherwise;
        0.4/0.35/0.25 with ``condorcet_cycle``).
    dim : int
        Embedding dimension; embeddings are unit-norm Gaussian directions.
    n_annotators, comparisons_per_annotator : int
        Observations per annotator (comparisons, or rankings when ``ranking_size`` is set).
    logit_sd : float
        Target standard deviation of the true logits ``r_k(a) - r_k(b)``: about 0.3 is
        nearly coin-flip labels, 2 a clear signal.
    n_prompts, responses_per_prompt : int
        Each observation is about responses of one prompt.
    tie_rate : float in [0, 1)
        Davidson ties: the tie parameter is set so that two equally good responses tie
        with this probability.
    ranking_size : int, optional
        Draw Plackett-Luce rankings of this many responses instead of comparisons.
    condorcet_cycle : bool
        Three types whose rankings of each prompt's 3 responses are cyclic shifts
        (A>B>C, B>C>A, C>A>B) and no type holds a majority: the weighted majority of types
        is a Condorcet cycle on every prompt. Needs ``n_types=3`` and
        ``responses_per_prompt=3``.
    embeddings : array (n_prompts * responses_per_prompt, dim), optional
        Response features to use instead of random unit-norm directions (prompt by prompt,
        ``responses_per_prompt`` rows each; used as given, not normalised): a semi-synthetic
        population whose types are drawn on real text embeddings, with their anisotropy
        and clusters, and known ground truth. ``dim`` is then the embeddings' width.
    random_state : int

    Returns
    -------
    SyntheticPopulation
        ``.data``, ``.features``, ``.truth`` (also unpacks as a 3-tuple).
    """
    for name, value, low in (
        ("n_types", n_types, 1),
        ("dim", dim, 1),
        ("n_annotators", n_annotators, 1),
        ("comparisons_per_annotator", comparisons_per_annotator, 1),
        ("n_prompts", n_prompts, 1),
        ("responses_per_prompt", responses_per_prompt, 2),
    ):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise DataError(f"synthetic: {name}={value!r}; expected an integer >= {low}")
    if not (logit_sd >= 0):
        raise DataError(f"synthetic: logit_sd={logit_sd!r}; expected a nonnegative number")
    if not (0 <= tie_rate < 1):
        raise DataError(f"synthetic: tie_rate={tie_rate!r}; expected a number in [0, 1)")
    if ranking_size is not None and not (2 <= ranking_size <= responses_per_prompt):
        raise DataError(f"synthetic: ranking_size={ranking_size!r}; expected 2..responses_per_prompt")
    if condorcet_cycle and (n_types != 3 or responses_per_prompt != 3 or dim < 3):
        raise DataError("synthetic: condorcet_cycle needs n_types=3, responses_per_prompt=3 and dim >= 3")
    rng = np.random.default_rng(random_state)
    w_types = _weights(n_types, weights, condorcet_cycle)
    n_resp = n_prompts * responses_per_prompt
    if embeddings is not None:
        given = np.asarray(embeddings, dtype=np.float64)
        if condorcet_cycle or given.ndim != 2 or given.shape[0] != n_resp or not np.isfinite(given).all():
            raise DataError(f"synthetic: embeddings of shape {given.shape}; expected finite values of shape "
                            f"(n_prompts * responses_per_prompt, dim) = ({n_resp}, dim), without condorcet_cycle")
        dim = given.shape[1]

    if condorcet_cycle:
        # orthonormal type directions; candidate i of each prompt scores (2 - rank) for each type
        basis, _ = np.linalg.qr(rng.standard_normal((dim, 3)))
        directions = basis.T
        ranks = np.array([[0, 1, 2], [2, 0, 1], [1, 2, 0]])  # ranks[k, i]: type k's rank of candidate i
        scores = (2 - ranks).T.astype(float)  # (candidate, type)
        emb = np.tile(scores @ directions, (n_prompts, 1)) + 0.05 * rng.standard_normal((n_resp, dim)) / np.sqrt(dim)
    else:
        directions = rng.standard_normal((n_types, dim))
        emb = rng.standard_normal((n_resp, dim))
    if embeddings is None:
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    else:
        emb = given.copy()
    # scale each type so its logits between two responses of a prompt have sd = logit_sd
    raw = emb @ directions.T  # (n_resp, K)
    within = raw.reshape(n_prompts, responses_per_prompt, n_types)
    # ddof=1: the mean squared difference of two distinct responses is 2x the unbiased variance
    sd_r = within.std(axis=1, ddof=1).mean(axis=0)
    scale = np.where(sd_r > 0, logit_sd / (np.sqrt(2.0) * np.maximum(sd_r, 1e-12)), 0.0)
    reward_vectors = directions * scale[:, None]
    rewards = (emb @ reward_vectors.T).T  # (K, n_resp)

    types = _exact_types(w_types, n_annotators, rng)
    n_obs = n_annotators * comparisons_per_annotator
    annotator = np.repeat(np.arange(n_annotators), comparisons_per_annotator)
    prompt = rng.integers(0, n_prompts, size=n_obs)
    obs_type = types[annotator]
    nu = 2.0 * tie_rate / (1.0 - tie_rate) if tie_rate > 0 else 0.0

    comparisons = rankings = None
    if ranking_size is None:
        first = rng.integers(0, responses_per_prompt, size=n_obs)
        second = (first + rng.integers(1, responses_per_prompt, size=n_obs)) % responses_per_prompt
        a = prompt * responses_per_prompt + first
        b = prompt * responses_per_prompt + second
        ra, rb = rewards[obs_type, a], rewards[obs_type, b]
        # Davidson: weights e^{ra}, e^{rb}, nu e^{(ra+rb)/2}, computed stably around the mean
        mid = 0.5 * (ra + rb)
        pa, pb, pt = np.exp(ra - mid), np.exp(rb - mid), np.full(n_obs, nu)
        total = pa + pb + pt
        u = rng.random(n_obs) * total
        y = np.where(u < pa, 1.0, np.where(u < pa + pb, 0.0, 0.5))
        comparisons = ComparisonArrays(prompt.astype(np.int64), a.astype(np.int64), b.astype(np.int64), y, annotator.astype(np.int64))
    else:
        # Plackett-Luce by the Gumbel trick: sorting reward + Gumbel noise draws a PL ranking
        chosen = np.argsort(rng.random((n_obs, responses_per_prompt)), axis=1)[:, :ranking_size]
        items = prompt[:, None] * responses_per_prompt + chosen
        noisy = rewards[obs_type[:, None], items] + rng.gumbel(size=items.shape)
        order = np.argsort(-noisy, axis=1)
        items = np.take_along_axis(items, order, axis=1).astype(np.int64)
        rankings = RankingArrays(items, np.full(n_obs, ranking_size, dtype=np.int64), prompt.astype(np.int64), annotator.astype(np.int64))

    prompt_ids = [f"p{p}" for p in range(n_prompts)]
    response_ids = [f"p{p}_r{j}" for p in range(n_prompts) for j in range(responses_per_prompt)]
    prompts = pd.DataFrame({"prompt_id": prompt_ids, "text": [f"prompt {p}" for p in range(n_prompts)]})
    responses = pd.DataFrame(
        {
            "response_id": response_ids,
            "prompt_id": np.repeat(prompt_ids, responses_per_prompt),
            "text": [f"response {j} to prompt {p}" for p in range(n_prompts) for j in range(responses_per_prompt)],
        }
    )
    annotators = pd.Index([f"a{i}" for i in range(n_annotators)])
    data = PreferenceData(prompts, responses, annotators, comparisons, rankings, response_key="id")
    truth = SyntheticTruth(
        reward_vectors=reward_vectors,
        weights=w_types,
        annotator_types=pd.Series(types, index=annotators, name="type"),
        rewards=rewards,
        tie_strength=nu,
    )
    return SyntheticPopulation(data, Features(response_ids, emb), truth)
