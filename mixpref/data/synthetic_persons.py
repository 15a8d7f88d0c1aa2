"""Synthetic populations of persons with continuous preferences over a few basis rewards.

Each person a has weights ``u_a`` drawn from a Dirichlet(``concentration``) over ``rank``
basis reward vectors and prefers response i to j with probability
``sigmoid(u_a . (r(i) - r(j)))``; the rewards are scaled so that the persons' true logits
have standard deviation ``logit_sd`` on average. Small concentrations put most persons near
a corner (nearly discrete types); large ones near the average person.

Examples
--------
>>> from mixpref.data.synthetic_persons import persons
>>> pop = persons(rank=3, n_annotators=20, comparisons_per_annotator=10, dim=8)
>>> pop.truth.annotator_weights.shape, pop.truth.person_rewards.shape
((20, 3), (20, 1000))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from .arrays import ComparisonArrays
from .features import Features
from .preference_data import PreferenceData
from .synthetic import population


@dataclass
class PersonsTruth:
    """What generated the data: basis ``reward_vectors`` (K, d), ``annotator_weights`` (DataFrame
    persons x K), ``rewards`` (K, n_responses), ``person_rewards`` (persons x n_responses) and the
    Dirichlet ``concentration`` the weights were drawn from (the prior over persons)."""

    reward_vectors: np.ndarray
    annotator_weights: pd.DataFrame
    rewards: np.ndarray
    person_rewards: np.ndarray
    concentration: float = 0.5


@dataclass
class PersonsPopulation:
    data: PreferenceData
    features: Features
    truth: PersonsTruth

    def __iter__(self):
        return iter((self.data, self.features, self.truth))


def persons(rank=3, concentration=0.5, dim=384, n_annotators=300, comparisons_per_annotator=100, logit_sd=2.0,
            n_prompts=50, responses_per_prompt=20, random_state=0) -> PersonsPopulation:
    """Draw persons with Dirichlet(``concentration``) weights over ``rank`` basis rewards, and their comparisons."""
    if not (concentration > 0):
        raise DataError(f"synthetic: concentration={concentration!r}; expected a positive number")
    # the basis, embeddings and which pairs are compared come from the discrete generator
    base = population(n_types=rank, weights=np.full(rank, 1.0 / rank), dim=dim, n_annotators=n_annotators,
                      comparisons_per_annotator=comparisons_per_annotator, logit_sd=logit_sd, n_prompts=n_prompts,
                      responses_per_prompt=responses_per_prompt, random_state=random_state)
    rng = np.random.default_rng([random_state, 1])
    U = rng.dirichlet(np.full(rank, float(concentration)), size=n_annotators)
    R = base.truth.rewards  # (K, n)
    P = U @ R
    within = P.reshape(n_annotators, n_prompts, responses_per_prompt)
    sd = within.std(axis=2, ddof=1).mean()
    scale = logit_sd / (np.sqrt(2.0) * sd) if sd > 0 else 0.0
    R, P = R * scale, P * scale
    arr = base.data.arrays
    logits = P[arr.annotator, arr.a] - P[arr.annotator, arr.b]
    y = (rng.random(len(logits)) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float64)
    comparisons = ComparisonArrays(arr.prompt, arr.a, arr.b, y, arr.annotator)
    d = base.data
    data = PreferenceData(d.prompts, d.responses, d.annotators, comparisons, None, response_key="id")
    truth = PersonsTruth(reward_vectors=base.truth.reward_vectors * scale,
                         annotator_weights=pd.DataFrame(U, index=d.annotators, columns=range(rank)),
                         rewards=R, person_rewards=P, concentration=float(concentration))
    return PersonsPopulation(data, base.features, truth)
