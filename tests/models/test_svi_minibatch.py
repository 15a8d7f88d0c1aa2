"""Minibatch SVI: annotators subsampled in Pyro's plate, each step an unbiased estimate of the full ELBO."""

import numpy as np
import pytest
import torch

import mixpref as mp
from mixpref.models import _engine as E
from mixpref.models._problem import build_problem
from mixpref.models.inference.batching import group_batches


def _population(n_annotators=24, seed=1):
    return mp.synthetic.population(n_types=2, n_annotators=n_annotators, comparisons_per_annotator=10, dim=4,
                                   random_state=seed)


def _fixed_point(n_types):
    """A fitted spec, its problem and MAP parameters (float64)."""
    pop = _population()
    model = (mp.MixtureBT(n_types=2, dtype="float64") if n_types == 2 else mp.BradleyTerry(dtype="float64"))
    model.fit(pop.data, pop.features)
    spec = model._spec(pop.data, pop.features)
    problem = build_problem(pop.data, pop.features, dtype=torch.float64)
    return spec, problem, {k: v.to(torch.float64) for k, v in model.params_.items()}


def _guide(spec, problem, params, kind):
    import pyro
    from pyro import poutine
    from pyro.infer.autoguide import AutoDelta, AutoNormal, init_to_value

    pyro.clear_param_store()
    model = E.pyro_model(spec, problem)
    blocked = poutine.block(model, expose=E.continuous_sites(spec, problem.dim))
    init = init_to_value(values=E.params_to_sites(spec, params))
    guide = AutoDelta(blocked, init_loc_fn=init) if kind == "delta" else AutoNormal(blocked, init_loc_fn=init,
                                                                                     init_scale=0.1)
    with torch.no_grad():
        guide()
    return model, guide


def _loss(spec, model, guide, *args, seed=5):
    import pyro
    from pyro.infer import Trace_ELBO, TraceEnum_ELBO

    pyro.set_rng_seed(seed)  # the same guide draw for every batch
    elbo = TraceEnum_ELBO(max_plate_nesting=1) if spec.n_types > 1 else Trace_ELBO(max_plate_nesting=1)
    with torch.no_grad():
        return float(elbo.loss(model, guide, *args))


@pytest.mark.parametrize("n_types", [1, 2])
def test_each_batch_loss_is_the_prior_plus_the_scaled_marginal_of_its_annotators(n_types):
    # oracle by hand: -(log prior + n_groups / |batch| * sum over the batch's annotators of
    # log sum_k w_k p(annotator's data | k)); the prior unscaled, the type summed out exactly.
    # 24 annotators in batches of 5 (sizes 5,5,5,5,4): the last batch's scale differs (6, not 4.8)
    spec, problem, params = _fixed_point(n_types)
    model, guide = _guide(spec, problem, params, "delta")
    with torch.no_grad():
        gll = E.group_loglik(E.obs_loglik(spec, params, problem), problem).numpy()
        log_w = E.log_weights(spec, params, torch.as_tensor(gll)).numpy()
        prior = float(E.log_prior(spec, params))
    marginal = np.logaddexp.reduce(gll + log_w, axis=1)
    batches = group_batches(problem, 5, random_state=3)
    for _ in range(5):
        batch = next(batches)
        idx = batch.index.numpy()
        want = -(prior + problem.n_groups / len(idx) * marginal[idx].sum())
        assert _loss(spec, model, guide, batch) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("n_types", [1, 2])
def test_the_batch_losses_of_an_epoch_average_to_the_full_batch_elbo(n_types):
    # unbiasedness, exactly: for a fixed guide draw, the batches of one epoch partition the 24
    # annotators into 4 batches of 6, and the mean of their losses is the full-data ELBO loss
    spec, problem, params = _fixed_point(n_types)
    model, guide = _guide(spec, problem, params, "normal")
    full = _loss(spec, model, guide)
    batches = group_batches(problem, 6, random_state=0)
    losses = [_loss(spec, model, guide, next(batches)) for _ in range(4)]
    assert np.mean(losses) == pytest.approx(full, rel=1e-12)
    assert np.std(losses) > 1.0  # the batches do differ
    # over random batches (many epochs, Monte Carlo), the mean stays within 4 standard errors
    many = [_loss(spec, model, guide, next(batches)) for _ in range(200)]
    assert abs(np.mean(many) - full) < 4 * np.std(many) / np.sqrt(len(many))


def test_batches_partition_the_annotators_every_epoch_and_follow_the_seed():
    pop = _population(n_annotators=23)
    problem = build_problem(pop.data, pop.features)
    batches = group_batches(problem, 5, random_state=7)
    epochs = [[next(batches) for _ in range(5)] for _ in range(2)]  # 23 annotators: 5,5,5,4,4
    for epoch in epochs:
        assert [len(b.index) for b in epoch] == [5, 5, 5, 4, 4]
        assert sorted(np.concatenate([b.index.numpy() for b in epoch]).tolist()) == list(range(23))
        for b in epoch:  # a batch holds exactly its annotators' comparisons, group j = index[j]
            expected = np.flatnonzero(np.isin(problem.group_np, b.index.numpy()))
            assert b.problem.n_obs == len(expected) and b.total == len(b.index) and b.size == 23
            got = sorted(zip(b.index.numpy()[b.problem.group_np], b.problem.a.tolist(), b.problem.b.tolist()))
            assert got == sorted(zip(problem.group_np[expected], problem.a[expected].tolist(),
                                     problem.b[expected].tolist()))
    assert [b.index.tolist() for b in epochs[0]] != [b.index.tolist() for b in epochs[1]]
    again = group_batches(problem, 5, random_state=7)
    assert [next(again).index.tolist() for _ in range(5)] == [b.index.tolist() for b in epochs[0]]


def test_minibatch_svi_recovers_the_types_and_the_full_batch_posterior():
    from sklearn.metrics import adjusted_rand_score

    pop = mp.synthetic.population(n_types=2, n_annotators=60, comparisons_per_annotator=30, dim=6, n_prompts=10,
                                  responses_per_prompt=6, logit_sd=2.0, random_state=4)
    kw = dict(n_types=2, dtype="float64", inference="svi", svi_steps=300, n_samples=50)
    full = mp.MixtureBT(**kw).fit(pop.data, pop.features)
    mini = mp.MixtureBT(**kw, batch_size=15).fit(pop.data, pop.features)  # 4 batches an epoch
    truth = pop.truth.annotator_types.loc[mini.annotators_].to_numpy()
    assert adjusted_rand_score(truth, mini.assign().to_numpy()) >= 0.95
    # the medians agree within one posterior sd of the full-batch fit (measured: 0.66 sd at most)
    sd = {k: v.std(0) for k, v in full.posterior_samples_.items()}
    for name in ("theta", "logits"):
        assert float(((mini.params_[name] - full.params_[name]).abs() / sd[name]).max()) < 1.0, name
    # and the posterior spread agrees within 25% (measured: 0.86-1.03 of the full-batch sd)
    ratio = (mini.posterior_samples_["theta"].std(0) / sd["theta"]).numpy()
    assert ratio.min() > 0.75 and ratio.max() < 1.25


@pytest.mark.parametrize("batch_size", [0, -3, 25, 2.5, True])
@pytest.mark.parametrize("inference", ["svi", "map"])
def test_a_batch_size_outside_one_to_the_number_of_annotators_is_a_data_error(batch_size, inference):
    pop = _population()  # 24 annotators
    with pytest.raises(mp.DataError, match=rf"batch_size: got {batch_size!r}, expected an integer from 1 to the "
                                           r"number of annotators \(24"):
        mp.MixtureBT(n_types=2, inference=inference, batch_size=batch_size, svi_steps=2).fit(pop.data, pop.features)


def test_jit_is_ignored_with_a_warning_under_minibatches():
    pop = _population()
    with pytest.warns(UserWarning, match="jit=True is ignored with minibatch SVI"):
        m = mp.BradleyTerry(inference="svi", jit=True, batch_size=6, svi_steps=3, n_samples=2, max_steps=5).fit(
            pop.data, pop.features)
    assert len(m.svi_losses_) == 3


def test_without_batch_size_svi_minibatches_when_the_memory_budget_asks_for_it():
    # 240 comparisons x 2 types x 16 live float64 tensors = 61,440 bytes > 20,000: 4 batches of 6 of
    # the 24 annotators, as batch_size=6 gives (MAP by minibatch Adam, then minibatch SVI)
    pop = _population()
    kw = dict(n_types=2, dtype="float64", inference="svi", svi_steps=8, n_samples=2, max_steps=20)
    auto = mp.MixtureBT(**kw, memory_budget=20_000).fit(pop.data, pop.features)
    fixed = mp.MixtureBT(**kw, batch_size=6).fit(pop.data, pop.features)
    full = mp.MixtureBT(**kw, optimizer="adam").fit(pop.data, pop.features)  # the default budget: full batch
    np.testing.assert_allclose(auto.svi_losses_, fixed.svi_losses_, rtol=1e-12)
    assert not np.allclose(auto.svi_losses_, full.svi_losses_, rtol=1e-3)


@pytest.mark.parametrize("make", [
    lambda: mp.MixtureBT(n_types=2, level="observation", dtype="float64", inference="svi", batch_size=60, svi_steps=5,
                         n_samples=2, max_steps=20),
    lambda: mp.MixturePL(n_types=2, beta=2.0, dtype="float64", inference="svi", batch_size=6, svi_steps=5,
                         n_samples=2, max_steps=20),
], ids=["observation-level", "policy-likelihood"])
def test_minibatch_svi_runs_at_observation_level_and_for_the_policy_likelihood(make):
    # level="observation": each comparison is its own group (batch_size counts comparisons); every
    # step's loss is finite and the guide moves
    pop = _population()
    m = make().fit(pop.data, pop.features)
    assert np.isfinite(m.svi_losses_).all() and len(m.svi_losses_) == 5
    assert np.std(m.svi_losses_) > 0


@pytest.mark.parametrize("inference", ["svi", "map"])
def test_lowrank_persons_refuse_minibatches(inference):
    # per-person weights are local latent sites: refused clearly rather than ignored
    pop = _population()
    with pytest.raises(mp.DataError, match="batch_size: got 6; LowRankBT fits every annotator at every step"):
        mp.LowRankBT(rank=2, inference=inference, batch_size=6).fit(pop.data, pop.features)


def test_minibatch_svi_on_a_streamed_design_matrix_equals_the_in_memory_fit():
    # out of core: the difference matrix (300 x 64 float64, 154 kB) exceeds the budget; each batch
    # reads its own rows from the features, and the steps are the in-memory steps
    from tests.models._fresh import fresh_data

    data, feats = fresh_data(n=300, dim=64)
    kw = dict(n_types=2, dtype="float64", inference="svi", svi_steps=10, n_samples=2, batch_size=4, max_steps=20)
    ref = mp.MixtureBT(**kw).fit(data, feats)
    got = mp.MixtureBT(**kw, memory_budget=100_000).fit(data, feats)
    np.testing.assert_allclose(got.svi_losses_, ref.svi_losses_, rtol=1e-9)
    np.testing.assert_allclose(got.coef_, ref.coef_, atol=1e-9)
