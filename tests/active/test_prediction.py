"""EPIG (objective "prediction") against the joint distribution of two answers enumerated by hand."""

import itertools

import numpy as np
import pandas as pd
import pytest

import mixpref as mp
from mixpref.active.belief import Belief
from mixpref.active.objectives import score_pool
from mixpref.active.pool import make_pool
from mixpref.active.prediction import epig, targets_of


def _answer_probs(basis, hyp, pairs):
    """(rows, S, H) P(first preferred | draw s, hypothesis h), one pair at a time."""
    out = np.zeros((len(pairs), basis.shape[0], len(hyp)))
    for row, (i, j) in enumerate(pairs):
        for s in range(basis.shape[0]):
            for h in range(len(hyp)):
                r = hyp[h] @ basis[s]
                out[row, s, h] = 1.0 / (1.0 + np.exp(-(r[i] - r[j])))
    return out


def _epig_by_hand(p, mix_c, q, mix_t, same):
    """Mean over targets of I(y; y*) from the 2 x 2 joint, summed over draws and hypotheses in loops."""
    S, H = p.shape
    joint = np.zeros((2, 2))
    for s in range(S):
        for h in range(H):
            for h2 in range(H):
                if same and h2 != h:
                    continue
                w = mix_c[h] * (1.0 if same else mix_t[h2]) / S
                for y, y2 in itertools.product((0, 1), repeat=2):
                    py = p[s, h] if y else 1 - p[s, h]
                    py2 = q[s, h2] if y2 else 1 - q[s, h2]
                    joint[y, y2] += w * py * py2
    marg_y, marg_y2 = joint.sum(1), joint.sum(0)
    return sum(joint[a, b] * np.log(joint[a, b] / (marg_y[a] * marg_y2[b])) for a in (0, 1) for b in (0, 1))


@pytest.mark.parametrize("H", [2, 3])
def test_epig_equals_the_mutual_information_of_two_answers_enumerated(H):
    rng = np.random.default_rng(0)
    n, S = 6, 5
    basis = rng.normal(scale=1.5, size=(S, H, n))
    hyp = np.eye(H)
    pairs = list(itertools.combinations(range(n), 2))
    probs = _answer_probs(basis, hyp, pairs)
    cand, targ = np.arange(0, 9), np.arange(5, 15)
    ann = rng.integers(0, 3, len(pairs))  # three annotators, each with their own posterior over hypotheses
    post = rng.dirichlet(np.ones(H), size=3)
    mix = post[ann]
    got = epig(probs[cand], mix[cand], probs[targ], mix[targ], ann[cand], ann[targ])
    for k, c in enumerate(cand):
        want = np.mean([_epig_by_hand(probs[c], mix[c], probs[t], mix[t], ann[c] == ann[t]) for t in targ])
        assert got[k] == pytest.approx(want, abs=1e-10)
    # without annotators (nobody's hypothesis persists) every pair of answers is independent given the draw
    free = epig(probs[cand], mix[cand], probs[targ], mix[targ])
    for k, c in enumerate(cand):
        want = np.mean([_epig_by_hand(probs[c], mix[c], probs[t], mix[t], False) for t in targ])
        assert free[k] == pytest.approx(want, abs=1e-10)


def test_epig_is_zero_without_posterior_uncertainty_and_a_shared_type_adds_information():
    rng = np.random.default_rng(1)
    probs = rng.uniform(0.1, 0.9, size=(4, 1, 2))
    one_draw = epig(probs, np.array([[1.0, 0.0]] * 4), probs, np.array([[1.0, 0.0]] * 4))
    assert np.allclose(one_draw, 0.0, atol=1e-12)  # a known model: one answer says nothing of another
    unsure = np.full((4, 2), 0.5)
    codes = np.zeros(4, dtype=np.int64)
    shared = epig(probs, unsure, probs, unsure, codes, codes)
    assert (shared > 1e-6).all()  # the same unknown type behind both answers


def test_score_pool_prediction_uses_pool_targets_and_needs_draws():
    rng = np.random.default_rng(2)
    n, S, K = 7, 4, 2
    feats = mp.Features([f"r{i}" for i in range(n)], rng.standard_normal((n, 3)))
    pairs = list(itertools.combinations(range(n), 2))
    frame = pd.DataFrame({"prompt_id": ["p"] * len(pairs), "response_a": [f"r{i}" for i, _ in pairs],
                          "response_b": [f"r{j}" for _, j in pairs]})
    pool = make_pool(frame, feats)
    basis = rng.normal(size=(S, K, n))
    mix = np.tile([0.3, 0.7], (len(pairs), 1))
    belief = Belief(basis, np.eye(K), mix, np.array([0.3, 0.7]), np.zeros(len(pairs), bool), True)
    codes = np.arange(len(pairs)) % 3
    got = score_pool("prediction", belief, pool, random_state=5, annotator_codes=codes)
    t = targets_of(len(pairs), random_state=5)
    probs = _answer_probs(basis, np.eye(K), pairs)
    np.testing.assert_allclose(got, np.maximum(epig(probs, mix, probs[t], mix[t], codes, codes[t]), 0), atol=1e-10)
    pop = mp.synthetic.population(n_types=2, n_annotators=10, comparisons_per_annotator=10, dim=4)
    with pytest.raises(mp.DataError, match="prediction.*posterior draws"):
        mp.active.suggest(mp.MixtureBT(n_types=2).fit(pop.data, pop.features), pop.data, pop.features, n=2,
                          objective="prediction")


def test_prediction_prefers_questions_about_what_will_be_asked():
    # one annotator, two unrelated parts of the reward (responses 0-2 and 3-5), posterior uncertain about
    # both; the pool to predict holds only pairs of the first part: asking there is worth more
    rng = np.random.default_rng(3)
    S = 200
    basis = np.zeros((S, 1, 6))
    basis[:, 0, :3] = rng.normal(size=(S, 3)) * np.array([0.0, 2.0, 4.0])
    basis[:, 0, 3:] = rng.normal(size=(S, 3)) * np.array([0.0, 2.0, 4.0])
    pairs_first = [(0, 1), (0, 2), (1, 2)]
    pairs_second = [(3, 4), (3, 5), (4, 5)]
    probs_first = _answer_probs(basis, np.eye(1), pairs_first)
    probs_second = _answer_probs(basis, np.eye(1), pairs_second)
    one = np.ones((3, 1))
    target = probs_first
    assert epig(probs_first, one, target, one).min() > epig(probs_second, one, target, one).max()
