"""Inference helpers one by one: Laplace's layout, float64 copy and mean shift; the score vectors
and partitions of the mixture starts; bootstrap resamples; the linear-structure LBFGS's
objective and line function; distributed minibatches (written to kill mutmut survivors;
tests/MUTATION.md). Expected values come from the formulas (numpy, finite differences) or
are counted by hand."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import mixpref as mp
from mixpref.models import _engine as E
from mixpref.models._problem import build_problem
from mixpref.models._rows import RowSource
from mixpref.models.inference import laplace as L
from mixpref.models.inference.ensemble import weighted_problem
from mixpref.models.inference.initialization import _scatter, group_score_vectors, same_partition
from mixpref.models.inference.linear_lbfgs import LinearObjective

from ..reference import oracles as O
from .conftest import features_for, make_data
from ._fresh import fresh_data, oracle_marginal


# ---------------------------------------------------------------- Laplace
def test_layout_logit_basis_spans_the_sum_zero_directions():
    layout = L._Layout(SimpleNamespace(n_types=3), {"theta": torch.zeros(3, 2), "logits": torch.zeros(3)})
    q = layout.logit_basis.numpy()
    assert q.shape == (3, 2) and layout.n == 6 + 2
    np.testing.assert_allclose(q.T @ q, np.eye(2), atol=1e-12)  # orthonormal
    np.testing.assert_allclose(q.T @ np.ones(3), 0.0, atol=1e-12)  # moving along them keeps the weights' sum


def test_float64_copy_converts_floats_and_streamed_rows_only():
    class P:
        pass

    p = P()
    p.phi, p.idx, p.dtype = torch.ones(2, 2, dtype=torch.float32), torch.arange(3), torch.float32
    p.rows = RowSource(np.ones((3, 2), dtype=np.float32), np.array([0, 2]), dtype=torch.float32)
    out = L._float64(p)
    assert out.phi.dtype == torch.float64 and out.idx.dtype == torch.int64 and out.dtype == torch.float64
    assert out.rows.dtype == torch.float64 and out.rows.block(0, 2).dtype == torch.float64
    assert p.rows.dtype == torch.float32 and p.phi.dtype == torch.float32  # the original is untouched


def _shift_case(mu, m, const=-800.0):
    # exact log density of N(mu, I) plus a large constant (a log posterior is a large negative number);
    # draws from N(0, I): importance weights w ∝ exp(mu . z)
    rng = np.random.default_rng(0)
    disp = rng.standard_normal((m, 2))
    mu_t = torch.tensor(mu)
    shift, ess = L._mean_shift(lambda d: const - 0.5 * ((d - mu_t) ** 2).sum(), disp, (disp ** 2).sum(1), 10)
    w = np.exp(disp @ np.asarray(mu))
    w /= w.sum()
    return shift, ess, w @ disp, 1.0 / (w ** 2).sum() / m


def test_mean_shift_is_the_self_normalised_importance_mean():
    shift, ess, expected, expected_ess = _shift_case([0.2, -0.1], 300)
    np.testing.assert_allclose(shift, expected, rtol=1e-6)  # log weights near -800: ~1e-13 relative each
    assert ess == pytest.approx(expected_ess, rel=1e-6) and ess > L.CORRECTION_MIN_ESS
    # weights too uneven: no shift, the ESS is still reported
    shift, ess, _, expected_ess = _shift_case([3.0, 3.0], 300)
    assert shift is None and ess == pytest.approx(expected_ess, rel=1e-6) and ess < L.CORRECTION_MIN_ESS
    assert L._mean_shift(lambda d: 0.0, np.zeros((99, 2)), np.zeros(99), 10) == (None, None)  # too few draws


# ---------------------------------------------------------------- mixture starts
def test_scatter_sums_weighted_rows_per_group_in_blocks():
    rng = np.random.default_rng(1)
    x, weight = rng.normal(size=(7, 3)), rng.normal(size=7)
    group = np.array([2, 0, 2, 1, 0, 2, 1])
    expected = np.zeros((4, 3))
    np.add.at(expected, group, weight[:, None] * x)
    got = _scatter(torch.tensor(x), torch.tensor(group), torch.tensor(weight), 4, block=2)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_same_partition_ignores_label_names():
    assert same_partition(np.array([0, 1, 2, 2]), np.array([2, 0, 1, 1]))
    assert same_partition(np.array([0, 0, 1]), np.array([1, 1, 0]))
    assert not same_partition(np.array([0, 1, 2, 2]), np.array([2, 0, 1, 0]))
    assert not same_partition(np.array([0, 0, 1]), np.array([0, 1, 1]))


def test_ranking_score_vectors_of_a_policy_model_include_the_reference():
    # each annotator's gradient of their Plackett-Luce log-likelihood w.r.t. theta, with
    # rewards phi theta + alpha log p_ref (beta = 1), by central finite differences of the oracle
    rng = np.random.default_rng(2)
    n_resp, dim = 7, 2
    phi = rng.normal(size=(n_resp, dim)).astype(np.float32).astype(np.float64)
    logp = rng.normal(size=n_resp).astype(np.float32).astype(np.float64) * 2
    rankings = [rng.choice(n_resp, size=2 + i % 3, replace=False).tolist() for i in range(12)]
    ann = [i // 3 for i in range(12)]
    data = make_data([0], [1], [1], rankings=rankings, rank_annotator=ann, n_responses=n_resp)
    problem = build_problem(data, features_for(data, phi, logp), dtype=torch.float64)
    spec = E.Spec(kind="pl", alpha=0.7, beta=1.0)
    theta = np.array([0.5, -0.3])
    got = group_score_vectors(spec, {"theta": torch.tensor(theta[None, :])}, problem).numpy()
    groups = problem.group_np[problem.n_comparisons:]

    def ll(th, g):
        r = phi @ th + 0.7 * logp
        return sum(O.plackett_luce_loglik(r, rk) for rk, gg in zip(rankings, groups) if gg == g)

    h = 1e-6
    expected = np.array([[(ll(theta + h * e, g) - ll(theta - h * e, g)) / (2 * h) for e in np.eye(dim)]
                         for g in range(problem.n_groups)])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- bootstrap
def _annotator_problem():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 6, 24)
    b = (a + rng.integers(1, 6, 24)) % 6
    data = make_data(a, b, rng.choice([0.0, 1.0], 24), annotator=np.repeat(np.arange(6), 4), n_responses=6)
    return build_problem(data, features_for(data, rng.normal(size=(6, 2))), dtype=torch.float64)


def test_a_resample_without_repeats_keeps_only_the_drawn_annotators():
    problem = _annotator_problem()
    counts = np.array([1, 0, 1, 0, 1, 1])
    sub = weighted_problem(problem, counts)
    assert sub.n_obs == 16 and sub.n_groups == 4  # four annotators of four comparisons each
    doubled = weighted_problem(problem, np.array([2, 0, 0, 0, 1, 0]))
    assert doubled.n_obs == 12 and doubled.n_groups == 3  # annotator 0 twice, as two groups


def test_ensemble_progress_bar_is_labelled(capsys):
    pop = mp.synthetic.population(n_types=1, n_annotators=6, comparisons_per_annotator=5, dim=2, random_state=0)
    mp.BradleyTerry(inference="ensemble", n_samples=2, progress=True).fit(pop.data, pop.features, study=False)
    assert "\rensemble:   0%|" in capsys.readouterr().err


# ---------------------------------------------------------------- linear-structure LBFGS
def _objective(prior_scale):
    data, feats = fresh_data(n=120, dim=3, n_ann=6)
    spec = E.Spec(n_types=2, prior_scale=prior_scale)
    problem = build_problem(data, feats, dtype=torch.float64)
    n = problem.n_obs
    obj = LinearObjective(spec, problem, n, lambda p, z: E.log_marginal(spec, p, problem, z))
    rng = np.random.default_rng(4)
    params = {"theta": torch.tensor(rng.standard_normal((2, 3))), "logits": torch.tensor([0.2, -0.4], dtype=torch.float64)}
    return obj, params, data, feats, n


def test_linear_objective_called_directly_is_the_oracle_marginal():
    obj, params, data, feats, n = _objective(None)
    ref = oracle_marginal(params["theta"].numpy(), params["logits"].numpy(), data, feats.embeddings)
    assert float(obj(params)) * n == pytest.approx(ref, rel=1e-12)
    assert obj.value(params) * n == pytest.approx(ref, rel=1e-12)


def test_line_function_is_the_objective_along_the_direction():
    obj, params, *_ = _objective(1.0)  # with a prior, whose derivative along the line counts too
    rng = np.random.default_rng(5)
    direction = {"theta": torch.tensor(rng.standard_normal((2, 3))), "logits": torch.tensor([0.3, 0.1], dtype=torch.float64)}
    phi = obj.along(params, direction, obj.z(params["theta"]), obj.z(direction["theta"]))

    def f(t):
        return obj.value({k: params[k] + t * direction[k] for k in params})

    for t in (0.0, 0.3, -0.7):
        value, slope = phi(t)
        assert value == pytest.approx(f(t), rel=1e-12)
        assert slope == pytest.approx((f(t + 1e-6) - f(t - 1e-6)) / 2e-6, rel=1e-5)


# ---------------------------------------------------------------- distributed minibatches
def test_distributed_minibatches_scale_by_all_ranks_groups(monkeypatch):
    # two ranks with 6 annotators each: 12 in all, batches of 4 -> 3 chunks of 4 annotators drawn
    # from all 12 (the one-process chunks), each rank keeping those it holds: each chunk's data
    # term is scaled by 12 / 4 = 3, and every annotator of this rank is in exactly one chunk
    from mixpref.distributed import objective as D
    from mixpref.models.inference.batching import minibatch_objectives

    problem = _annotator_problem()
    problem.comm, problem.n_groups_total = SimpleNamespace(sum_array=lambda a: 2 * np.asarray(a)), 12
    problem.global_group = np.array([0, 2, 4, 6, 8, 10])  # this rank holds the even annotators
    seen = []
    monkeypatch.setattr(D, "reduced_objective", lambda spec, sub, n, data_scale=1.0: seen.append(
        (sub.n_groups, data_scale)))
    minibatch_objectives(E.Spec(n_types=1), problem, 4, torch.Generator().manual_seed(0))
    assert [scale for _, scale in seen] == [3.0] * 3
    assert sum(n for n, _ in seen) == 6


# ---------------------------------------------------------------- optimisers
def _with_alarm(fn, seconds=60):
    # a wrong chunk count can loop forever: fail the test instead of hanging the suite
    import signal

    def hung(*_):
        raise TimeoutError("lbfgs did not stop")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        return fn()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_torch_lbfgs_continues_across_chunks_and_stops_when_converged():
    # a quadratic with condition number 1e3 in 80 dimensions: LBFGS needs several chunks of 25
    # iterations; it must reach the solution of A x = b (numpy) and stop before max_iter
    from mixpref.models.inference.optimizers import lbfgs

    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(80, 80)))
    a = q @ np.diag(np.logspace(0, 3, 80)) @ q.T
    b = rng.normal(size=80)
    at, bt = torch.tensor(a), torch.tensor(b)

    def objective(p):
        return -(0.5 * p["x"] @ at @ p["x"] - bt @ p["x"])

    params, value, iters = _with_alarm(lambda: lbfgs(objective, {"x": torch.zeros(80, dtype=torch.float64)},
                                                     max_iter=400, tol=1e-14, chunk=25))
    x = np.linalg.solve(a, b)
    np.testing.assert_allclose(params["x"].numpy(), x, atol=1e-4)
    assert value == pytest.approx(0.5 * b @ x, rel=1e-9)
    assert 50 < iters < 400


# found by the survivor x_lbfgs__mutmut_65: a chunk cut short by max_eval read as convergence
def test_torch_lbfgs_does_not_stop_when_a_chunk_runs_out_of_evaluations():
    from mixpref.models.inference.optimizers import lbfgs

    def objective(p):
        x, y = p["x"][0], p["x"][1]
        return -((1 - x) ** 2 + 100 * (y - x * x) ** 2)

    params, value, _ = _with_alarm(lambda: lbfgs(objective, {"x": torch.tensor([-1.2, 1.0], dtype=torch.float64)},
                                                 max_iter=400, tol=1e-14, chunk=25))
    np.testing.assert_allclose(params["x"].numpy(), [1.0, 1.0], atol=1e-4)


def test_adam_progress_bar_is_labelled(capsys):
    pop = mp.synthetic.population(n_types=1, n_annotators=4, comparisons_per_annotator=5, dim=2, random_state=0)
    mp.BradleyTerry(optimizer="adam", max_steps=3, progress=True).fit(pop.data, pop.features, study=False)
    assert "\rfit:   0%|" in capsys.readouterr().err


# ---------------------------------------------------------------- more of the sample's survivors
def test_prior_precision_is_one_over_scale_squared_on_rewards_and_flat_elsewhere():
    spec = E.Spec(ties="davidson", prior_scale=2.0)
    layout = L._Layout(spec, {"theta": torch.zeros(1, 3), "tie": torch.zeros(1)})
    np.testing.assert_array_equal(L._prior_precision_diag(spec, layout), [0.25, 0.25, 0.25, 0.0])


def test_hessian_vector_products_are_the_bt_precision_in_float64():
    rng = np.random.default_rng(6)
    phi = rng.normal(size=(8, 3)).astype(np.float32).astype(np.float64)
    a = rng.integers(0, 8, 40)
    b = (a + rng.integers(1, 8, 40)) % 8
    data = make_data(a, b, rng.choice([0.0, 1.0], 40), n_responses=8)
    problem = build_problem(data, features_for(data, phi), dtype=torch.float64)
    spec = E.Spec(prior_scale=1.5)
    theta = np.array([0.4, -0.2, 0.9])
    layout = L._Layout(spec, {"theta": torch.tensor(theta[None, :])})
    matvec = L._hvp_operator(spec, layout, problem)
    prec = O.bt_precision(phi, theta, a, b, prior_scale=1.5)
    v = rng.normal(size=3)
    np.testing.assert_allclose(matvec(v), prec @ v, rtol=1e-12)


def test_score_components_keep_at_most_groups_minus_one_directions():
    # three groups' centred scores span two directions, whatever K and d
    from mixpref.models.inference.initialization import score_components

    rng = np.random.default_rng(7)
    scores = torch.tensor(rng.normal(size=(3, 5)))
    z = score_components(scores, torch.ones(3), 3)
    assert z.shape == (3, 2)
    centred = scores.numpy() - scores.numpy().mean(0)
    sv = np.linalg.svd(centred, compute_uv=False)
    np.testing.assert_allclose(np.sort(np.linalg.norm(z, axis=0))[::-1], sv[:2], rtol=1e-10)


def test_linear_lbfgs_stopped_by_a_non_descent_direction_reports_zero_iterations():
    from mixpref.models.inference.linear_lbfgs import maximize

    obj, params, *_ = _objective(1.0)
    # any first direction counts as "no progress possible" under a huge tolerance_change
    out, value, iters = maximize(obj, params, max_iter=50, tolerance_grad=0.0, tolerance_change=1e9)
    assert iters == 0 and value == pytest.approx(obj.value(params), rel=1e-12)
    for k in params:
        assert torch.equal(out[k], params[k])


def test_max_steps_bounds_the_lbfgs_iterations():
    pop = mp.synthetic.population(n_types=1, n_annotators=10, comparisons_per_annotator=10, dim=4, random_state=1)
    m = mp.BradleyTerry(max_steps=2).fit(pop.data, pop.features, study=False)
    assert [r["iterations"] for r in m.fit_trace_.restarts] == [2]


def test_minibatch_fits_pass_their_minibatches_to_adam_and_are_reproducible(monkeypatch):
    from mixpref.models.inference import map_fit

    pop = mp.synthetic.population(n_types=1, n_annotators=9, comparisons_per_annotator=4, dim=2, random_state=2)
    seen = []
    real = map_fit.adam
    monkeypatch.setattr(map_fit, "adam", lambda *a, **k: seen.append(k.get("minibatches")) or real(*a, **k))
    fits = []
    for _ in range(2):
        torch.manual_seed(len(fits))  # the global generator must not matter
        fits.append(mp.BradleyTerry(batch_size=3, max_steps=6, dtype="float64").fit(pop.data, pop.features,
                                                                                      study=False))
    assert [len(s) for s in seen] == [3, 3]  # 9 annotators in batches of 3
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)


def test_bootstrap_resamples_every_annotator(monkeypatch):
    from mixpref.models.inference import ensemble

    counts = []
    real = ensemble.weighted_problem
    monkeypatch.setattr(ensemble, "weighted_problem", lambda problem, c: counts.append(c) or real(problem, c))
    pop = mp.synthetic.population(n_types=1, n_annotators=3, comparisons_per_annotator=4, dim=2, random_state=0)
    mp.BradleyTerry(inference="ensemble", max_steps=3).fit(pop.data, pop.features, study=False)
    c = np.array(counts)
    assert c.shape == (10, 3) and (c.sum(1) == 3).all()  # the default 10 members
    assert (c[:, 0] > 0).any()  # annotator 0 is drawn too (missed by all 10 resamples: p = (2/3)^30)


def test_value_grad_gives_zero_gradient_to_parameters_the_data_do_not_use():
    obj, params, *_ = _objective(1.0)
    params = {**params, "alpha": torch.ones(2, dtype=torch.float64)}
    _, grad = obj.value_grad(params, obj.z(params["theta"]))
    assert torch.equal(grad["alpha"], torch.zeros(2, dtype=torch.float64))


def test_svi_with_a_low_rank_guide():
    pop = mp.synthetic.population(n_types=1, n_annotators=4, comparisons_per_annotator=5, dim=3, random_state=0)
    m = mp.BradleyTerry(inference="svi", guide="lowrank", svi_steps=2, n_samples=2).fit(pop.data, pop.features,
                                                                                        study=False)
    assert len(m.svi_losses_) == 2


def test_fit_time_adds_up_and_restart_bars_are_labelled(capsys):
    pop = mp.synthetic.population(n_types=2, n_annotators=10, comparisons_per_annotator=6, dim=2, random_state=3)
    single = mp.BradleyTerry().fit(pop.data, pop.features, study=False)
    assert 0 < single.fit_trace_.restarts[0]["seconds"] <= single.fit_trace_.seconds
    mixture = mp.MixtureBT(n_types=2, n_restarts=2, optimizer="adam", max_steps=3, progress=True).fit(
        pop.data, pop.features, study=False)
    assert 0 < sum(r["seconds"] for r in mixture.fit_trace_.restarts) <= mixture.fit_trace_.seconds
    err = capsys.readouterr().err
    assert "\rfit (restart 1/2):   0%|" in err  # (the second start repeats the first's partition: skipped)


def test_mlp_mixture_fits_are_reproducible():
    pop = mp.synthetic.population(n_types=2, n_annotators=8, comparisons_per_annotator=5, dim=3, random_state=4)
    fits = []
    for seed in (0, 1):
        torch.manual_seed(seed)  # the global generator must not matter
        m = mp.MixtureBT(n_types=2, n_restarts=1, max_steps=5, dtype="float64", reward="mlp", hidden=4)
        fits.append(m.fit(pop.data, pop.features, study=False))
    for k in fits[0].params_:
        assert torch.equal(torch.as_tensor(fits[0].params_[k]), torch.as_tensor(fits[1].params_[k])), k
