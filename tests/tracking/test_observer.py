"""Fits and aggregations reach the active study through the event observer (autolog)."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from mixpref import events
from mixpref.tracking import MixprefTrackingWarning, Study, autolog, disable_autolog

from ._helpers import search_runs, tracking_warnings

# mlflow's own SQLAlchemy store (the test's client) triggers this; mixpref's calls are quiet
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


def test_fits_and_aggregations_log_to_the_active_study(tmp_path):
    import mixpref as mp

    pop = mp.synthetic.population(n_types=2, n_annotators=20, comparisons_per_annotator=20, dim=4, random_state=0)
    with mp.Study("active", tracking_uri=False, output_dir=tmp_path / "active"):
        mp.MixtureBT(n_types=2, n_restarts=1, max_steps=20).fit(pop.data, pop.features)
        mp.aggregate(mp.Profile.from_rewards(np.random.default_rng(0).normal(size=(3, 2, 4)), [0.5, 0.5]), "borda")
        explicit = mp.BradleyTerry(max_steps=20).fit(pop.data, pop.features, study=False)
    metrics = (tmp_path / "active" / "metrics.csv").read_text()
    params = (tmp_path / "active" / "params.json").read_text()
    assert "MixtureBT.train_objective" in metrics and "MixtureBT.weight_1" in metrics and "borda.exploitability" in metrics
    assert "MixtureBT.n_types" in params and "BradleyTerry" not in metrics
    assert explicit.objective_ < 0


@pytest.fixture(scope="module")
def population():
    import mixpref as mp

    return mp.synthetic.population(n_types=2, n_annotators=20, comparisons_per_annotator=20, dim=4, random_state=0)


@pytest.fixture
def autologging():
    """Every test starts and ends with the observer subscribed (as a Study leaves it)."""
    autolog()
    yield
    autolog()


def _fit_bt(population, **kwargs):
    import mixpref as mp

    return mp.BradleyTerry(max_steps=20).fit(population.data, population.features, **kwargs)


def _metric_keys(client, run_id):
    return set(client.get_run(run_id).data.metrics)


def test_fit_inside_a_study_is_logged_to_mlflow(tmp_path, tracking_uri, client, population, autologging):
    import mixpref as mp

    with warnings.catch_warnings():
        warnings.simplefilter("error", MixprefTrackingWarning)
        with mp.Study("observed-fit", tracking_uri=tracking_uri, output_dir=tmp_path) as study:
            model = mp.MixtureBT(n_types=2, n_restarts=1, max_steps=20).fit(population.data, population.features)
            with study.run("seed=1") as run:
                single = _fit_bt(population)
    runs = search_runs(tracking_uri, "observed-fit")
    parent = runs[runs["run_id"] == study.run_id]
    child = runs[runs["run_id"] == run.run_id]
    # the values mlflow holds are the fitted models' own attributes
    assert parent["metrics.MixtureBT.train_objective"].item() == pytest.approx(model.objective_)
    assert [parent[f"metrics.MixtureBT.weight_{k}"].item() for k in range(2)] == pytest.approx(list(model.weights_))
    assert parent["params.MixtureBT.n_types"].item() == "2"
    assert child["metrics.BradleyTerry.train_objective"].item() == pytest.approx(single.objective_)
    # each fit lands in the innermost run active when it finished, and nowhere else
    assert not any(k.startswith("BradleyTerry.") for k in _metric_keys(client, study.run_id))
    assert not any(k.startswith("MixtureBT.") for k in _metric_keys(client, run.run_id))


def test_study_argument_overrides_the_active_study(tmp_path, tracking_uri, client, population, autologging):
    with Study("explicit-target", tracking_uri=tracking_uri, output_dir=tmp_path) as study:
        with study.run("a") as run_a:
            with study.run("b") as run_b:
                _fit_bt(population, study=run_a)  # the run named, not the innermost one
                _fit_bt(population, study=False)  # nowhere
    assert "BradleyTerry.train_objective" in _metric_keys(client, run_a.run_id)
    assert _metric_keys(client, run_b.run_id) == set()
    assert _metric_keys(client, study.run_id) == set()


def test_repeated_fits_and_rules_in_one_run_never_repeat_a_key(tmp_path, tracking_uri, client, population,
                                                               autologging):
    import mixpref as mp

    profile = mp.Profile.from_rewards(np.random.default_rng(0).normal(size=(3, 2, 4)), [0.5, 0.5])
    with warnings.catch_warnings():
        # mlflow refuses a parameter logged twice with different values: that would warn here
        warnings.simplefilter("error", MixprefTrackingWarning)
        with Study("no-duplicates", tracking_uri=tracking_uri, output_dir=tmp_path) as study:
            first = mp.BradleyTerry(max_steps=20, prior_scale=1.0).fit(population.data, population.features)
            second = mp.BradleyTerry(max_steps=20, prior_scale=0.5).fit(population.data, population.features)
            mp.aggregate(profile, "borda")
            mp.aggregate(profile, "borda")
    run = client.get_run(study.run_id)
    assert run.data.params["BradleyTerry.prior_scale"] == "1.0"
    assert run.data.params["BradleyTerry-2.prior_scale"] == "0.5"
    assert run.data.metrics["BradleyTerry.train_objective"] == pytest.approx(first.objective_)
    assert run.data.metrics["BradleyTerry-2.train_objective"] == pytest.approx(second.objective_)
    assert {"borda.exploitability", "borda-2.exploitability"} <= set(run.data.metrics)
    for key in run.data.metrics:
        assert len(client.get_metric_history(study.run_id, key)) == 1, key


def test_disable_autolog_and_autolog(tmp_path, population, autologging):
    with Study("switch", tracking_uri=False, output_dir=tmp_path) as study:
        disable_autolog()
        assert _observer_subscribed() is False
        _fit_bt(population)
        assert study._metrics == []  # not observed
        study.log_metrics({"explicit": 1.0})  # explicit logging is unaffected
        autolog()
        autolog()  # twice is once
        _fit_bt(population)
    keys = [k for k, *_ in study._metrics]
    assert keys.count("BradleyTerry.train_objective") == 1 and "explicit" in keys
    assert "BradleyTerry-2.train_objective" not in keys  # the unobserved fit left no trace


def _observer_subscribed():
    from mixpref.tracking.observer import _observe

    return _observe in events.observers()


def test_a_study_turns_autolog_on(tmp_path, population, autologging):
    disable_autolog()
    Study("turns-on", tracking_uri=False, output_dir=tmp_path)
    assert _observer_subscribed()


def test_an_observer_that_raises_warns_and_the_fit_still_returns(tmp_path, population, autologging):
    def broken(name, payload):
        raise RuntimeError("observer bug")

    events.subscribe(broken)
    try:
        with pytest.warns(RuntimeWarning, match="observer of 'fit' failed: RuntimeError: observer bug"):
            model = _fit_bt(population, study=False)
    finally:
        events.unsubscribe(broken)
    assert np.isfinite(model.objective_) and model.fit_seconds_ > 0


def test_a_failing_log_of_a_fit_is_a_tracking_warning(tmp_path, population, autologging, monkeypatch):
    from mixpref.tracking import observer

    def broken(model, prefix):
        raise KeyError("no such attribute")

    monkeypatch.setattr(observer, "_fit_record", broken)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with Study("failing-observer", tracking_uri=False, output_dir=tmp_path) as study:
            model = _fit_bt(population)
            again = _fit_bt(population)
    messages = [str(w.message) for w in tracking_warnings(record)]
    assert len(messages) == 1 and "fit of BradleyTerry" in messages[0] and "no such attribute" in messages[0], messages
    assert record and all(w.filename == __file__ for w in tracking_warnings(record))  # points at the user's line
    assert [f[0] for f in study.failures] == ["autolog", "autolog"]
    assert np.isfinite(model.objective_) and np.isfinite(again.objective_)


def test_a_broken_mlflow_never_loses_a_fit(tmp_path, tracking_uri, population, autologging, monkeypatch):
    import mlflow

    def broken(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mlflow.MlflowClient, "log_batch", broken)
    with pytest.warns(MixprefTrackingWarning, match="No space left"):
        with Study("broken-mlflow", tracking_uri=tracking_uri, output_dir=tmp_path):
            model = _fit_bt(population)
    assert np.isfinite(model.objective_)
    local = (tmp_path / "metrics.csv").read_text()
    assert "BradleyTerry.train_objective" in local  # the local copy has it


def test_autolog_without_a_study_logs_nothing_and_imports_no_mlflow():
    code = (
        "import sys, types\n"
        "import mixpref as mp\n"
        "from mixpref import events\n"
        "mp.autolog()\n"
        "model = types.SimpleNamespace(get_params=lambda: {'k': 1}, objective_=-1.0, fit_seconds_=0.1, weights_=[1.0])\n"
        "events.emit('fit', model=model, study=None)\n"
        "assert 'mlflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
