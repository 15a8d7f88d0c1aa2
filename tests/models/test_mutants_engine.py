"""Engine and inference helpers at their edges (written to kill mutmut survivors;
tests/MUTATION.md). References: float64 numpy/math by the formula."""

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from mixpref.models import _engine as E
from mixpref.models.inference.alignment import align_types


def test_segment_logsumexp_is_stable_for_large_values():
    values = torch.tensor([[1000.0, -5.0], [999.0, -7.0], [3.0, 2.0]], dtype=torch.float64)
    segment = torch.tensor([0, 0, 2])
    got = E.segment_logsumexp(values, segment, 3)
    assert got.shape == (3, 2)
    assert got[0, 0].item() == math.log1p(math.exp(-1.0)) + 1000.0
    assert abs(got[0, 1].item() - (-5.0 + math.log1p(math.exp(-2.0)))) < 1e-12
    assert torch.isneginf(got[1]).all()  # an empty segment: log of an empty sum
    assert got[2].tolist() == [3.0, 2.0]


def test_ranking_loglik_without_rankings_is_empty():
    r = torch.zeros(4, 3)
    for problem in (SimpleNamespace(rank_items=None, n_rankings=0),
                    SimpleNamespace(rank_items=torch.zeros(0, 2, dtype=torch.long), n_rankings=0)):
        out = E.ranking_loglik(r, problem)
        assert out.shape == (0, 3) and out.dtype == r.dtype


def test_align_types_matches_mlp_output_weights():
    spec = SimpleNamespace(n_types=3)
    rng = np.random.default_rng(0)
    ref = {"w2": torch.tensor(rng.normal(size=(3, 4))), "logits": torch.tensor([0.1, 0.2, 0.3])}
    perm = [2, 0, 1]
    params = {k: v[perm] + 0.01 for k, v in ref.items()}
    params["scalar"] = torch.tensor(1.0)
    out = align_types(spec, ref, params)
    torch.testing.assert_close(out["w2"], ref["w2"] + 0.01)
    torch.testing.assert_close(out["logits"], ref["logits"] + 0.01)
    assert out["scalar"].item() == 1.0


def test_init_params_starting_values():
    spec = E.Spec(kind="pl", alpha="learn", ties="davidson", n_types=3, reward="mlp", hidden=5)
    gen = torch.Generator().manual_seed(0)
    p = E.init_params(spec, 4, gen, "cpu", torch.float32)
    assert set(p) == {"w1", "b1", "w2", "tie", "alpha", "logits"}
    assert p["alpha"].tolist() == [1.0, 1.0, 1.0]  # policy temperature starts at 1
    assert p["tie"].tolist() == [-1.0, -1.0, -1.0]
    assert p["logits"].tolist() == [0.0, 0.0, 0.0] and p["b1"].abs().sum().item() == 0.0
    assert all(v.dtype == torch.float32 for v in p.values())
    assert p["w1"].shape == (3, 4, 5) and p["w2"].shape == (3, 5)


def test_mlp_scores_read_streamed_rows():
    # a non-linear reward cannot be streamed block by block: scores() materialises the rows of a
    # RowSource (the store's rows ia) and must give the oracle's MLP rewards of exactly those rows
    from mixpref.models._rows import RowSource

    from ..reference import oracles as O

    rng = np.random.default_rng(4)
    store = rng.normal(size=(7, 3)).astype(np.float32)
    ia = np.array([5, 0, 3, 3])
    w1, b1, w2 = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    params = {"w1": torch.tensor(w1), "b1": torch.tensor(b1), "w2": torch.tensor(w2)}
    spec = E.Spec(n_types=2, reward="mlp", hidden=4)
    got = E.scores(spec, params, RowSource(store, ia, dtype=torch.float64, block_rows=2))
    ref = O.mlp_rewards(w1, b1, w2, store.astype(np.float64)[ia]).T
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_davidson_ties_with_comparisons_and_rankings_in_one_problem():
    # both kinds of observation in one fit: the comparisons' Davidson terms need the tie parameter,
    # the rankings are Plackett-Luce; log-likelihoods (comparisons first) against the oracles
    import mixpref as mp

    from ..reference import oracles as O
    from .conftest import features_for, make_data

    rng = np.random.default_rng(5)
    n_resp = 8
    phi = rng.normal(size=(n_resp, 3)).astype(np.float32).astype(np.float64)
    a = rng.integers(0, n_resp, 60)
    b = (a + rng.integers(1, n_resp, 60)) % n_resp
    y = rng.choice([0.0, 0.5, 1.0], size=60)
    rankings = [rng.choice(n_resp, size=2 + i % 3, replace=False).tolist() for i in range(20)]
    cmp = make_data(a, b, y, n_responses=n_resp)
    ranked = make_data([0], [1], [1], rankings=rankings, n_responses=n_resp)
    # each data set codes responses in its own order: recode the rankings to the comparisons' table
    code = pd.Index(cmp.responses["response_id"]).get_indexer(ranked.responses["response_id"])
    items = np.where(ranked.ranking_arrays.items >= 0, code[ranked.ranking_arrays.items], -1)
    data = mp.PreferenceData(cmp.prompts, cmp.responses, cmp.annotators, cmp.arrays,
                             dataclasses.replace(ranked.ranking_arrays, items=items))
    assert len(data) == 80
    feats = features_for(data, phi)
    m = mp.BradleyTerry(ties="davidson", prior_scale=1.0, dtype="float64").fit(data, feats)
    nu = float(np.asarray(m.tie_).ravel()[0])
    r = O.linear_rewards(m.coef_, phi)
    ref = np.r_[O.comparison_loglik_matrix(r, a, b, y, ties="davidson", nu=nu)[:, 0],
                O.ranking_loglik_matrix(r, rankings)[:, 0]]
    np.testing.assert_allclose(m.log_likelihood(data, feats), ref, rtol=1e-10)
    assert m.objective_ * 80 == pytest.approx(ref.sum() + O.normal_log_prior(m.coef_, 1.0), rel=1e-9)


def _small_mixture_problem(seed=6):
    from mixpref.models._problem import build_problem

    from .conftest import features_for, make_data

    rng = np.random.default_rng(seed)
    n_resp = 6
    phi = rng.normal(size=(n_resp, 2)).astype(np.float32).astype(np.float64)
    a = rng.integers(0, n_resp, 24)
    b = (a + rng.integers(1, n_resp, 24)) % n_resp
    y = rng.choice([0.0, 1.0], size=24)
    ann = np.repeat(np.arange(6), 4)
    data = make_data(a, b, y, annotator=ann, n_responses=n_resp)
    problem = build_problem(data, features_for(data, phi), dtype=torch.float64)
    return problem, phi, a, b, y


def test_fixed_responsibility_objective_is_the_em_objective():
    # EM's expected complete-data log joint: log prior + sum_g sum_k resp_gk (LL_gk + log w_k)
    from ..reference import oracles as O

    problem, phi, a, b, y = _small_mixture_problem()
    spec = E.Spec(n_types=2, prior_scale=1.5, concentration=2.0)
    rng = np.random.default_rng(0)
    theta, logits = rng.normal(size=(2, 2)), np.array([0.4, -0.1])
    resp = rng.dirichlet([1.0, 1.0], size=problem.n_groups)
    params = {"theta": torch.tensor(theta), "logits": torch.tensor(logits)}
    got = float(E.fixed_responsibility_objective(spec, params, problem, torch.tensor(resp)))
    ll = O.comparison_loglik_matrix(O.linear_rewards(theta, phi), a, b, y)
    gll = np.zeros((problem.n_groups, 2))
    np.add.at(gll, problem.group_np, ll)
    w = np.exp(logits - np.log(np.exp(logits).sum()))
    expected = (resp * (gll + np.log(w))).sum() + O.normal_log_prior(theta, 1.5) + O.dirichlet_log_prior(w, 2.0)
    assert got == pytest.approx(expected, rel=1e-12)


def test_single_type_responsibilities_are_one():
    problem, *_ = _small_mixture_problem()
    out = E.responsibilities(E.Spec(n_types=1), {"theta": torch.ones(1, 2, dtype=torch.float64)}, problem)
    assert out.shape == (problem.n_groups, 1) and out.eq(1.0).all()


def test_params_to_sites_names_the_pyro_sites():
    # the Pyro model has a "weights" site (softmax of the logits) and no "logits" site
    spec = E.Spec(n_types=3)
    logits = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64)
    sites = E.params_to_sites(spec, {"theta": torch.zeros(3, 2), "logits": logits})
    assert set(sites) == {"theta", "weights"}
    w = np.exp([0.0, 1.0, -1.0]) / np.exp([0.0, 1.0, -1.0]).sum()
    np.testing.assert_allclose(sites["weights"].numpy(), w, rtol=1e-12)


def test_mlp_first_layer_starts_at_one_over_root_dim():
    # w1 ~ N(0, 1/dim) entry by entry (so that a hidden unit's input has unit variance)
    spec = E.Spec(n_types=3, reward="mlp", hidden=64)
    p = E.init_params(spec, 16, torch.Generator().manual_seed(1), "cpu", torch.float64)
    assert float(p["w1"].std()) == pytest.approx(0.25, rel=0.1)  # 3 x 16 x 64 draws: sd within ~2%
    assert float(p["w2"].std()) == pytest.approx(1 / 8, rel=0.1)


def test_mlp_starts_are_reproducible_from_the_generator():
    spec = E.Spec(n_types=2, reward="mlp", hidden=4)
    one = E.init_params(spec, 3, torch.Generator().manual_seed(7), "cpu", torch.float64)
    torch.manual_seed(0)  # the global generator must not matter
    two = E.init_params(spec, 3, torch.Generator().manual_seed(7), "cpu", torch.float64)
    for k in one:
        assert torch.equal(one[k], two[k]), k


def test_single_type_pyro_model_has_no_weights_site():
    import pyro

    from mixpref.models._problem import build_problem

    from .conftest import features_for, make_data

    data = make_data([0, 1], [1, 2], [1.0, 0.0], n_responses=3)
    problem = build_problem(data, features_for(data, np.eye(3)), dtype=torch.float64)
    for k in (1, 2):
        trace = pyro.poutine.trace(E.pyro_model(E.Spec(n_types=k), problem)).get_trace()
        assert ("weights" in trace.nodes) == (k > 1)
