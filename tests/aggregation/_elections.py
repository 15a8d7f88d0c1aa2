"""Random elections (voters with rankings) as mixpref profiles, for the oracle tests."""

import numpy as np


def voter_matrices(rankings, n_cands):
    """0/1 preference matrices (one per voter) from rankings given best first."""
    mats = np.full((len(rankings), n_cands, n_cands), 0.5)
    for v, ranking in enumerate(rankings):
        pos = np.empty(n_cands, dtype=int)
        pos[list(ranking)] = np.arange(n_cands)
        beats = (pos[:, None] < pos[None, :]).astype(float)
        mats[v] = np.where(np.eye(n_cands, dtype=bool), 0.5, beats)
    return mats


def random_voter_profiles(n_profiles, seed, min_cands=3, max_cands=6, min_voters=2, max_voters=9):
    """Impartial-culture elections: (list of rankings lists, list of candidate counts)."""
    rng = np.random.default_rng(seed)
    elections = []
    for _ in range(n_profiles):
        m = int(rng.integers(min_cands, max_cands + 1))
        n = int(rng.integers(min_voters, max_voters + 1))
        elections.append([rng.permutation(m).tolist() for _ in range(n)])
    return elections


def stack_elections(elections):
    """One padded mixpref Profile holding every election as a prompt (voters = types)."""
    import mixpref as mp

    k_max = max(len(e) for e in elections)
    mats, weights = [], np.zeros((len(elections), k_max))
    for p, rankings in enumerate(elections):
        m = len(rankings[0])
        v = voter_matrices(rankings, m)
        pad = np.full((k_max, m, m), 0.5)
        pad[: len(rankings)] = v
        mats.append(pad)
        weights[p, : len(rankings)] = 1.0 / len(rankings)
    return mp.Profile(mats, weights)
