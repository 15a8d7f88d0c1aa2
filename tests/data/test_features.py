import numpy as np
import pytest

import mixpref as mp


def test_align_reorders_and_names_missing_ids():
    f = mp.Features(["a", "b", "c"], np.arange(6.0).reshape(3, 2), logp_ref=[-1.0, -2.0, -3.0])
    g = f.align(["c", "a"])
    np.testing.assert_array_equal(g.embeddings, [[4, 5], [0, 1]])
    np.testing.assert_array_equal(g.logp_ref, [-3, -1])
    with pytest.raises(mp.DataError, match="'zz'"):
        f.align(["a", "zz"])


def test_align_to_data_uses_its_response_order():
    pop = mp.synthetic.population(n_annotators=3, comparisons_per_annotator=2, dim=3, n_prompts=2, responses_per_prompt=3)
    shuffled = mp.Features(pop.features.ids[::-1], pop.features.embeddings[::-1])
    np.testing.assert_array_equal(shuffled.align(pop.data).embeddings, pop.features.embeddings)


@pytest.mark.parametrize(
    "ids, emb, logp, match",
    [
        (["a", "a"], np.zeros((2, 2)), None, "duplicate"),
        (["a", "b"], np.zeros((3, 2)), None, "3 rows for 2 ids"),
        (["a", "b"], np.array([[0.0, np.nan], [0, 0]]), None, "non-finite"),
        (["a", "b"], np.zeros(2), None, "shape"),
        (["a", "b"], np.zeros((2, 2)), [0.0, np.inf], "logp_ref"),
        ([["unhashable"], "b"], np.zeros((2, 2)), None, "hashable"),
    ],
)
def test_bad_features_raise_data_error(ids, emb, logp, match):
    with pytest.raises(mp.DataError, match=match):
        mp.Features(ids, emb, logp)


def test_save_load_round_trip(tmp_path):
    f = mp.Features(["a", 7], np.random.default_rng(0).normal(size=(2, 5)), logp_ref=[-1.5, -0.25])
    f.save(tmp_path / "feat")
    g = mp.Features.load(tmp_path / "feat")
    assert list(g.ids) == ["a", 7]
    np.testing.assert_array_equal(g.embeddings, f.embeddings)
    np.testing.assert_array_equal(g.logp_ref, f.logp_ref)
    assert not [p for p in (tmp_path / "feat").iterdir() if p.name.endswith(".tmp")]


def test_non_finite_rows_are_counted():
    emb = np.zeros((20, 2))
    emb[[1, 2, 3, 5, 8, 13, 19], 0] = np.nan
    with pytest.raises(mp.DataError, match=r"rows \[1, 2, 3, 5, 8\] and 2 more \(0-based"):
        mp.Features([f"r{i}" for i in range(20)], emb)
