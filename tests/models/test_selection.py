import pytest

import mixpref as mp


@pytest.fixture(scope="module")
def two_types():
    return mp.synthetic.population(n_types=2, n_annotators=60, comparisons_per_annotator=50, dim=8, n_prompts=10,
                                   responses_per_prompt=8, logit_sd=3.0, random_state=4)


def test_heldout_selection_finds_two_types(two_types):
    res = mp.select_n_types(two_types.data, two_types.features, ks=[1, 2, 3], n_restarts=2, random_state=0)
    assert res.k == 2
    assert list(res.table.columns) == ["k", "criterion", "train_ll", "heldout_ll", "se", "n_params", "seconds"]
    assert res.table["train_ll"].is_monotonic_increasing or res.table["train_ll"].iloc[1] > res.table["train_ll"].iloc[0]
    assert res.model.n_types_ == 2 and len(res.model.responsibilities_) == 60


def test_bic_selection_and_annotator_split(two_types):
    res = mp.select_n_types(two_types.data, two_types.features, ks=[1, 2], criterion="bic", n_restarts=1)
    assert res.k == 2 and res.table["heldout_ll"].isna().all()
    res = mp.select_n_types(two_types.data, two_types.features, ks=[1, 2], split="annotator", n_restarts=1,
                            refit=False)
    assert res.model is None and res.k == 2


def test_single_type_population_selects_one():
    pop = mp.synthetic.population(n_types=1, n_annotators=60, comparisons_per_annotator=50, dim=8, n_prompts=10,
                                  responses_per_prompt=8, logit_sd=2.0, random_state=5)
    res = mp.select_n_types(pop.data, pop.features, ks=[1, 2, 3], n_restarts=2, refit=False)
    assert res.k == 1


def test_selection_rejects_bad_arguments(two_types):
    with pytest.raises(mp.DataError, match="criterion"):
        mp.select_n_types(two_types.data, two_types.features, criterion="aic")
    with pytest.raises(mp.DataError, match="ks"):
        mp.select_n_types(two_types.data, two_types.features, ks=[0, 1])


def test_standard_error_clusters_only_annotators_of_the_test_set(two_types):
    # with split="annotator" most annotators have no test observation; counting them as
    # clusters with a zero difference used to inflate the standard error
    import numpy as np

    from mixpref.models.selection import _groups

    res = mp.select_n_types(two_types.data, two_types.features, ks=[1, 2], split="annotator", n_restarts=1,
                            refit=False)
    _, test = two_types.data.split(test_size=0.2, by="annotator", random_state=0)
    groups = _groups(test)
    totals = {k: np.bincount(groups, weights=res.models[k].log_likelihood(test, two_types.features)) for k in (1, 2)}
    present = np.bincount(groups) > 0
    diff = (totals[res.k] - totals[3 - res.k])[present]
    expected = np.sqrt(len(diff)) * diff.std(ddof=1) / len(test)
    assert res.table.set_index("k").loc[3 - res.k, "se"] == pytest.approx(expected)
