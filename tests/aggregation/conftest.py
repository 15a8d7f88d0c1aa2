"""Shared profiles for the aggregation tests."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def bt_mixture():
    """A mixture of three Bradley–Terry types over 8 candidates, 300 prompts (with rewards)."""
    import mixpref as mp

    rng = np.random.default_rng(7)
    rewards = rng.normal(size=(300, 3, 8)) * 2.0
    weights = rng.dirichlet(np.ones(3), size=300)
    return mp.Profile.from_rewards(rewards, weights)
