"""Borda, Copeland, Kemeny and maximal lotteries against pref_voting on random elections.

Voters are deterministic (0/1) types with weight 1/n, so the pooled matrix is the support
matrix / n and the weighted majority of types is the textbook majority: every rule must
pick exactly pref_voting's winners. Impartial-culture elections with 3-6 candidates and
2-9 voters contain many majority cycles (checked below) and, with even voter counts, ties.
"""

import numpy as np
import pytest

import mixpref as mp
from mixpref.aggregation.relations import condorcet_winner, has_cycle
from mixpref.aggregation.selfplay import exploitability

from ._elections import random_voter_profiles, stack_elections, voter_matrices

pv_profiles = pytest.importorskip("pref_voting.profiles")
from pref_voting.c1_methods import copeland  # noqa: E402
from pref_voting.other_methods import kemeny_young  # noqa: E402
from pref_voting.probabilistic_methods import maximal_lottery  # noqa: E402
from pref_voting.scoring_methods import borda  # noqa: E402

N_ELECTIONS = 320


@pytest.fixture(scope="module")
def elections():
    elections = random_voter_profiles(N_ELECTIONS, seed=2024)
    return elections, stack_elections(elections), [pv_profiles.Profile(e) for e in elections]


def _winners(lottery, p):
    return sorted(np.flatnonzero(lottery.probs[p] > 1e-12).tolist())


def test_elections_include_cycles_ties_and_condorcet_winners(elections):
    _, profile, pv = elections
    rel = profile.majority()
    cycles = has_cycle(rel, profile.mask)
    cw = condorcet_winner(rel, profile.mask)
    assert cycles.sum() >= 30
    assert (cw >= 0).sum() >= 100
    # the Condorcet winner found through the weighted majority of types is pref_voting's
    for p, prof in enumerate(pv):
        expected = prof.condorcet_winner()
        assert cw[p] == (-1 if expected is None else expected)


@pytest.mark.parametrize("rule, oracle", [("borda", borda), ("copeland", copeland)])
def test_winner_sets_match_pref_voting(elections, rule, oracle):
    _, profile, pv = elections
    lottery = mp.aggregate(profile, rule)
    for p, prof in enumerate(pv):
        assert _winners(lottery, p) == sorted(oracle(prof)), f"election {p}"
        # ties are split uniformly over the winners
        winners = _winners(lottery, p)
        np.testing.assert_allclose(lottery.probs[p, winners], 1.0 / len(winners))


def test_borda_and_copeland_scores_match_pref_voting(elections):
    els, profile, pv = elections
    b = mp.aggregate(profile, "borda").scores
    c = mp.aggregate(profile, "copeland").scores
    for p, prof in enumerate(pv):
        n = len(els[p])
        m = len(els[p][0])
        np.testing.assert_allclose(b[p, :m] * n, [prof.borda_scores()[i] for i in range(m)])
        np.testing.assert_allclose(c[p, :m], [prof.copeland_scores()[i] for i in range(m)])


def test_kemeny_winners_match_pref_voting(elections):
    els, profile, pv = elections
    small = [p for p, e in enumerate(els) if len(e[0]) <= 5][:120]
    lottery = mp.aggregate(profile, "kemeny")
    for p in small:
        assert _winners(lottery, p) == sorted(kemeny_young(pv[p])), f"election {p}"


@pytest.mark.parametrize("method", ["lp", "selfplay"])
def test_maximal_lottery_matches_pref_voting(elections, method):
    els, profile, pv = elections
    lottery = mp.aggregate(profile, "maximal_lottery", method=method, device="cpu")
    game = profile.pooled() - np.swapaxes(profile.pooled(), 1, 2)
    n_unique = 0
    for p, prof in enumerate(pv):
        m = len(els[p][0])
        theirs = np.zeros(profile.mask.shape[1])
        theirs[:m] = [maximal_lottery(prof)[i] for i in range(m)]
        # mixpref's own lottery is unbeatable: no candidate wins against it in expectation
        # (computed here with numpy, not with mixpref's exploitability)
        assert (game[p, :m, :m] @ lottery.probs[p, :m]).max() <= 1e-8, f"election {p}"
        if len(els[p]) % 2 == 1:
            # odd electorates: every margin is odd, the maximal lottery is unique
            n_unique += 1
            assert np.abs(lottery.probs[p] - theirs).sum() <= 1e-6, f"election {p}"
        else:
            # ties allow several maximal lotteries: both must be unbeatable
            assert exploitability(game[p : p + 1], theirs[None])[0] <= 1e-9
    assert n_unique >= 100
    assert lottery.metadata["max_exploitability"] <= 1e-9
    assert (lottery.probs[~profile.mask] == 0).all()


def test_single_election_without_padding_matches_pref_voting():
    rng = np.random.default_rng(3)
    for _ in range(20):
        m, n = 5, 7
        rankings = [rng.permutation(m).tolist() for _ in range(n)]
        prof = mp.Profile(voter_matrices(rankings, m)[None], weights=np.full(n, 1.0 / n))
        pv = pv_profiles.Profile(rankings)
        lot = mp.aggregate(prof, "maximal_lottery", method="lp")
        theirs = maximal_lottery(pv)
        assert np.abs(lot.probs[0] - [theirs[i] for i in range(m)]).sum() <= 1e-6
        assert _winners(mp.aggregate(prof, "borda"), 0) == sorted(borda(pv))
        assert _winners(mp.aggregate(prof, "copeland"), 0) == sorted(copeland(pv))
