"""The personalisation protocol: splits, few-shot curves, standard errors, plot."""

import numpy as np
import pytest

import mixpref as mp
from mixpref.evaluate.personalization import ADAPTED_ALL, FEW_SHOT, REFERENCE, SPLITS, _clustered, personalization, \
    plot_personalization
from mixpref.models.lowrank import LowRankBT


@pytest.fixture(scope="module")
def table():
    pop = mp.synthetic.population(n_types=3, n_annotators=80, comparisons_per_annotator=50, dim=12, logit_sd=3.0,
                                  random_state=0)
    makers = {"bt": mp.BradleyTerry, "mixture": lambda: mp.MixtureBT(n_types=3), "lowrank": lambda: LowRankBT(rank=3)}
    return personalization(makers, pop.data, pop.features, shots=(0, 2, 10, 30))


def test_tidy_table(table):
    assert list(table.columns) == ["model", "split", "shots", "n", "log_likelihood", "log_likelihood_se", "accuracy",
                                   "accuracy_se"]
    assert set(table.split) == set(SPLITS) | {FEW_SHOT, REFERENCE, ADAPTED_ALL}
    assert (table.log_likelihood_se > 0).all() and (table.log_likelihood < 0).all()
    assert table.accuracy.between(0, 1).all()
    # every model is scored on the same held-out comparisons of each split
    assert (table.groupby("split").n.nunique() == 1).all()


def test_few_shot_curve_rises_and_bt_is_flat(table):
    few = table[table.split == FEW_SHOT].pivot(index="shots", columns="model", values="log_likelihood")
    assert np.ptp(few["bt"]) < 1e-12  # nothing to adapt
    for model in ("mixture", "lowrank"):
        assert few[model].loc[30] > few[model].loc[2] > few[model].loc[0] - 0.005
        ref = table[(table.split == REFERENCE) & (table.model == model)].log_likelihood.iloc[0]
        assert few[model].loc[30] > ref - 0.02
        # adapted on all 40 of their adaptation comparisons: at least as good as on 30 of them, near the reference
        every = table[(table.split == ADAPTED_ALL) & (table.model == model)]
        assert every.shots.iloc[0] == 40 and every.log_likelihood.iloc[0] > max(few[model].loc[30] - 0.005, ref - 0.02)
    assert few["mixture"].loc[30] > few["bt"].loc[30] + 0.1


def test_clustered_standard_error_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 12.0])
    g = np.array([0, 0, 1, 1, 2, 2])
    mean, se = _clustered(x, g)
    # with equal cluster sizes the clustered SE is the SE of the cluster means (times a small-sample factor)
    means = np.array([1.5, 3.5, 11.0])
    assert mean == pytest.approx(x.mean())
    assert se == pytest.approx(np.sqrt(3 / 2 * ((means - means.mean()) ** 2).sum()) / 3)


def test_plot(table, tmp_path):
    fig = plot_personalization(table)
    fig.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_bad_input():
    pop = mp.synthetic.population(n_types=1, n_annotators=3, comparisons_per_annotator=5, dim=4)
    with pytest.raises(mp.DataError, match="3 annotators; expected at least 5"):
        personalization(mp.BradleyTerry, pop.data, pop.features)
    with pytest.raises(mp.DataError, match="shots"):
        personalization(mp.BradleyTerry, pop.data, pop.features, shots=(-1,))
