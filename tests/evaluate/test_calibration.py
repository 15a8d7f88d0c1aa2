"""Calibration of predict_proba: binning against sklearn, ECE and annotator fractions by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.calibration import calibration_curve

import mixpref as mp
from mixpref.evaluate.calibration import calibration, plot_calibration, reliability_table


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_table_bins_like_sklearn(strategy):
    rng = np.random.default_rng(0)
    pred = rng.random(500)
    pred[:5] = [0.0, 0.1, 0.5, 0.9, 1.0]  # edges go where sklearn puts them
    y = (rng.random(500) < pred).astype(float)
    table, ece = reliability_table(pred, y, n_bins=7, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, pred, n_bins=7, strategy=strategy)
    filled = table[table["count"] > 0]
    np.testing.assert_allclose(filled["observed"], prob_true)
    np.testing.assert_allclose(filled["mean_predicted"], prob_pred)
    assert table["count"].sum() == 500
    by_hand = np.sum(filled["count"] * np.abs(prob_true - prob_pred)) / 500
    assert ece == pytest.approx(by_hand)


def test_reliability_table_rejects_bad_input():
    with pytest.raises(mp.DataError, match="outside"):
        reliability_table([0.5, 1.5], [0, 1])
    with pytest.raises(mp.DataError, match="n_bins"):
        reliability_table([0.5], [1], n_bins=0)
    with pytest.raises(mp.DataError, match="strategy"):
        reliability_table([0.5], [1], strategy="log")


class _OracleModel:
    """predict_proba from known rewards (optionally sharpened: a miscalibrated model)."""

    def __init__(self, rewards, features, sharpen=1.0, tie=0.0):
        self.rewards, self.features, self.sharpen, self.tie = rewards, features, sharpen, tie

    def _gap(self, data):
        ids = data.responses["response_id"].to_numpy(dtype=object)
        arr = data.arrays
        pos_a, pos_b = self.features.positions(ids[arr.a]), self.features.positions(ids[arr.b])
        return self.sharpen * (self.rewards[pos_a] - self.rewards[pos_b])

    def predict_proba(self, data, features):
        return (1 - self.tie) * expit(self._gap(data))

    def predict_tie_proba(self, data, features):
        return np.full(len(data.arrays), self.tie)


def test_true_probabilities_are_calibrated_and_sharpened_ones_are_not():
    pop = mp.synthetic.population(
        n_types=1, dim=6, n_annotators=200, comparisons_per_annotator=40, n_prompts=20,
        responses_per_prompt=6, logit_sd=1.5, random_state=1,
    )
    truth = pop.truth.rewards[0]
    good = calibration(_OracleModel(truth, pop.features), pop.data, pop.features)
    bad = calibration(_OracleModel(truth, pop.features, sharpen=3.0), pop.data, pop.features)
    assert good.n_comparisons == len(pop.data) and good.n_ties == 0
    assert good.ece < 0.03
    assert bad.ece > 3 * good.ece
    assert good.brier < bad.brier


def _judged(rows):
    df = pd.DataFrame(rows, columns=["prompt", "response_a", "response_b", "label", "annotator"])
    return mp.PreferenceData.from_frame(df, annotator="annotator", responses="ids")


def test_annotator_fractions_by_hand():
    rows = [
        # pair (x, y): three annotators, two choose x (one listed as b vs a), one ties
        ("p", "x", "y", "a", "ann1"),
        ("p", "y", "x", "b", "ann2"),
        ("p", "x", "y", "tie", "ann3"),
        # pair (x, z): one annotator twice: below min_annotators=2
        ("p", "x", "z", "a", "ann1"),
        ("p", "x", "z", "b", "ann1"),
        # pair (y, z): two annotators, both choose z
        ("p", "z", "y", "a", "ann2"),
        ("p", "y", "z", "b", "ann3"),
    ]
    data = _judged(rows)
    feats = mp.Features(["x", "y", "z"], np.eye(3))
    rewards = np.array([1.0, 0.0, 0.5])
    result = calibration(_OracleModel(rewards, feats), data, feats, n_bins=2)
    pairs = result.pairs.set_index(["response_a", "response_b"])
    assert len(pairs) == 2 and ("x", "z") not in pairs.index
    xy = pairs.loc[("x", "y")]
    assert xy["n_judgments"] == 3 and xy["n_annotators"] == 3
    assert xy["fraction_a"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert xy["predicted_a"] == pytest.approx(expit(1.0))
    yz = pairs.loc[("y", "z")]
    assert yz["fraction_a"] == 0.0 and yz["predicted_a"] == pytest.approx(expit(-0.5))
    # pairs weighted by judgments: ECE over the two bins by hand
    t = result.pairs_table
    assert t["count"].tolist() == [2.0, 3.0]
    expected = (2 * abs(0 - expit(-0.5)) + 3 * abs(2.5 / 3 - expit(1.0))) / 5
    assert result.pairs_ece == pytest.approx(expected)
    # the tie is left out of the per-comparison table
    assert result.n_ties == 1 and result.n_comparisons == 6


def test_ties_condition_on_no_tie():
    data = _judged([("p", "x", "y", "a", "u"), ("p", "x", "y", "tie", "v")])
    feats = mp.Features(["x", "y"], np.eye(2))
    model = _OracleModel(np.array([1.0, 0.0]), feats, tie=0.2)
    result = calibration(model, data, feats, n_bins=1)
    # P(a) = 0.8 sigmoid(1); conditional on no tie: sigmoid(1)
    assert result.table.loc[0, "mean_predicted"] == pytest.approx(expit(1.0))
    # annotator fraction: (1 + 0.5) / 2 against P(a) + P(tie)/2
    assert result.pairs.loc[0, "fraction_a"] == 0.75
    assert result.pairs.loc[0, "predicted_a"] == pytest.approx(0.8 * expit(1.0) + 0.1)


def test_without_annotators_there_is_no_pair_table_and_the_plot_is_saved(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    df = pd.DataFrame({"prompt": ["p"] * 4, "response_a": ["x", "x", "y", "x"], "response_b": ["y", "y", "x", "y"],
                       "label": ["a", "b", "b", "a"]})
    data = mp.PreferenceData.from_frame(df, responses="ids")
    feats = mp.Features(["x", "y"], np.eye(2))
    result = calibration(_OracleModel(np.array([0.5, 0.0]), feats), data, feats)
    assert result.pairs is None and result.pairs_table is None and np.isnan(result.pairs_ece)
    fig = plot_calibration(result)
    path = tmp_path / "calibration.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000
    with pytest.raises(mp.DataError, match="predict_proba"):
        calibration(object(), data, feats)


def test_a_fitted_mixture_is_roughly_calibrated_on_held_out_data():
    pop = mp.synthetic.population(
        n_types=2, dim=4, n_annotators=40, comparisons_per_annotator=30, n_prompts=10,
        responses_per_prompt=5, random_state=3,
    )
    train, test = pop.data.split(random_state=0)
    model = mp.MixtureBT(n_types=2, random_state=0).fit(train, pop.features)
    result = calibration(model, test, pop.features, n_bins=5)
    assert result.n_comparisons == len(test)
    assert result.ece < 0.1
    assert result.pairs is not None and (result.pairs["n_annotators"] >= 2).all()


def test_the_package_exports_the_function():
    import mixpref.evaluate as evaluate

    assert evaluate.calibration is calibration and callable(evaluate.calibration)
