"""Small populations (profiles) with a known structure, shared by the tests of rules, targets and DPO."""

import numpy as np

import mixpref as mp


def majority_minority(n_prompts=30, m=6, seed=0):
    """The aggregation study's 60/40 population: the minority's rewards anti-correlated (-0.5) with the majority's."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n_prompts, m))
    minority = -0.5 * base + np.sqrt(0.75) * rng.standard_normal((n_prompts, m))
    return mp.Profile.from_rewards(2.0 * np.stack([base, minority], axis=1), weights=[0.6, 0.4])
