"""Sharded fits on 2 gloo processes equal one-process fits; bad input fails on every rank, without a hang."""

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.distributed import _worker

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tmp_path, kind, mode="ok", world=2, timeout=240):
    out = tmp_path / f"{kind}-{mode}.npz"
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "tests.distributed._worker", str(r), str(world), str(port), str(out),
                               kind, mode], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(world)]
    logs = [p.communicate(timeout=timeout)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)
    return out


def _assert_rank0_saved(got, name, ref, atol, draws=False):
    """Rank 0's saved parameters (and posterior draws) of estimator ``name`` equal the one-process fit ``ref``."""
    for p, v in ref.params_.items():
        np.testing.assert_allclose(got[f"{name}_{p}"], v.numpy(), atol=atol, err_msg=f"{name} {p}")
    for p, v in (ref.posterior_samples_.items() if draws else ()):
        np.testing.assert_allclose(got[f"{name}_draw_{p}"], v.numpy(), atol=atol, err_msg=f"{name} draws {p}")

@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fresh", "shared"])
def test_two_ranks_fit_the_same_objective_and_parameters_as_one_process(tmp_path, kind):
    out = _launch(tmp_path, kind)
    got = np.load(out)
    data, feats = _worker.population(kind)
    for name, est in _worker.estimators().items():
        ref = est.fit(data, feats)
        assert got[f"{name}_objective"] == pytest.approx(ref.objective_, rel=1e-5)
        _assert_rank0_saved(got, name, ref, atol=1e-4)
    np.testing.assert_allclose(got["mix_resp"], ref.responsibilities_.to_numpy(), atol=1e-4)
    # both ranks held observations (sharded by annotator, balanced)
    per_rank = got["mix_per_rank"]
    assert per_rank.sum() == len(data) and per_rank.min() > 0.4 * per_rank.sum() / 2


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fresh", "shared"])
def test_two_ranks_run_the_one_process_svi(tmp_path, kind):
    # the same seed draws the same guide noise on every rank and in one process; each rank's ELBO
    # counts the prior and the guide's entropy 1/2 and its own annotators' data once, and the
    # gradients are summed: every step's full-data loss equals the one-process loss
    out = _launch(tmp_path, kind, mode="svi")
    got = np.load(out)
    data, feats = _worker.population(kind)
    for name, est in _worker.estimators("svi").items():
        ref = est.fit(data, feats)
        np.testing.assert_allclose(got[f"{name}_svi_losses"], ref.svi_losses_, rtol=1e-6, err_msg=name)
        _assert_rank0_saved(got, name, ref, atol=1e-5, draws=True)
        # the guide moved away from its MAP start: the comparison is not of two untouched initialisations
        start = _worker.estimators()[name].fit(data, feats)  # the same estimator with inference="map"
        assert max(float((ref.params_[p] - start.params_[p]).abs().max()) for p in ref.params_) > 1e-3


@pytest.mark.slow
def test_ranks_with_different_data_fail_on_every_rank_with_a_clear_error(tmp_path):
    out = _launch(tmp_path, "shared", mode="different-data")
    errors = [Path(f"{out}.rank{r}.err") for r in range(2)]
    assert all(e.exists() for e in errors)
    for e in errors:
        assert "ranks see different data" in e.read_text()
    assert not out.exists()  # nothing written


@pytest.mark.slow
@pytest.mark.parametrize("mode,message", [
    ("missing-shard", "failed on rank 1: DataError: features: .* not in the cache"),
    ("tiny-budget", "memory_budget: 1,000 bytes is smaller than one block"),
    ("big-batch", r"batch_size: got 42, expected an integer from 1 to the number of annotators \(41"),
])
def test_bad_input_fails_on_every_rank_with_a_clear_error(tmp_path, mode, message):
    import re

    out = _launch(tmp_path, "shared", mode=mode)
    for r in range(2):
        err = Path(f"{out}.rank{r}.err")
        assert err.exists() and re.search(message, err.read_text()), err.read_text() if err.exists() else "no error"
    assert not out.exists()


@pytest.mark.slow
def test_cached_features_with_a_missing_shard_name_the_responses(tmp_path):
    import mixpref as mp

    data, feats = _worker.population("shared")
    cached = _worker.cached_features(feats, tmp_path / "cache", drop_one=True)
    with pytest.raises(mp.DataError, match="not in the cache .*shard is missing"):
        mp.BradleyTerry().fit(data, cached)
    # out of core: the difference matrix (300 x 64 float64, 154 kB) exceeds the budget and is streamed
    from tests.models._fresh import fresh_data

    data, feats = fresh_data(n=300, dim=64)
    whole = _worker.cached_features(feats, tmp_path / "cache2")
    ref = mp.MixtureBT(n_types=2, dtype="float64").fit(data, feats)
    got = mp.MixtureBT(n_types=2, dtype="float64", memory_budget=100_000).fit(data, whole)
    assert got.objective_ == pytest.approx(ref.objective_, rel=1e-9)
    np.testing.assert_allclose(got.coef_, ref.coef_, atol=1e-6)


@pytest.mark.slow
def test_minibatch_adam_across_ranks_takes_the_one_process_steps(tmp_path):
    # every rank draws the one-process permutation of all annotators and keeps its own in each
    # chunk: the chunks' objectives summed over ranks are the one-process chunks', step by step
    out = _launch(tmp_path, "shared", mode="minibatch")
    got = np.load(out)
    data, feats = _worker.population("shared")
    full = _worker.estimators()
    for name, est in _worker.estimators("minibatch").items():
        ref = est.fit(data, feats)  # the same minibatch Adam in one process
        assert got[f"{name}_objective"] == pytest.approx(ref.objective_, rel=1e-6)
        _assert_rank0_saved(got, name, ref, atol=1e-5)
        # stochastic Adam over annotator minibatches: close to the full-batch LBFGS optimum, not equal
        assert got[f"{name}_objective"] == pytest.approx(full[name].fit(data, feats).objective_, abs=2e-3)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fresh", "shared"])
def test_two_ranks_run_the_one_process_minibatch_svi(tmp_path, kind):
    # minibatch SVI: every rank draws the same batch of annotators (of all ranks') and keeps its
    # own; the plate scales each rank's part by all annotators over the whole batch, so the
    # summed loss of every step is the one-process minibatch loss (same batches, same guide noise)
    out = _launch(tmp_path, kind, mode="svi-minibatch")
    got = np.load(out)
    data, feats = _worker.population(kind)
    for name, est in _worker.estimators("svi-minibatch").items():
        ref = est.fit(data, feats)
        losses = ref.svi_losses_
        np.testing.assert_allclose(got[f"{name}_svi_losses"], losses, rtol=1e-6, err_msg=name)
        # the losses are minibatch estimates: they vary between steps far more than the tolerance
        assert np.std(np.diff(losses)) > 1e-3
        _assert_rank0_saved(got, name, ref, atol=1e-5, draws=True)
