"""resample_soft_labels and text lookups, edge by edge (written to kill mutmut survivors;
tests/MUTATION.md). Expected flips follow the documented rule: a pair flips when its uniform
draw is at least p_chosen (so p = 1 never flips and p = 0 always does)."""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp
from mixpref.targets import dpo_pairs


def _pairs(n=40):
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "prompt": ["Q"] * n,
        "chosen": [f"c{i}" for i in range(n)],
        "rejected": [f"r{i}" for i in range(n)],
        "chosen_id": [f"C{i}" for i in range(n)],
        "p_chosen": rng.uniform(size=n).round(2),
        "margin": rng.normal(size=n),
    })


def test_default_seed_is_zero_and_results_are_reproducible():
    df = _pairs()
    a = mp.resample_soft_labels(df)
    pd.testing.assert_frame_equal(a, mp.resample_soft_labels(df, random_state=0))
    pd.testing.assert_frame_equal(mp.resample_soft_labels(df, random_state=5), mp.resample_soft_labels(df, random_state=5))
    flip = np.random.default_rng(0).random(len(df)) >= df["p_chosen"].to_numpy()
    assert a["flipped"].tolist() == flip.tolist()
    assert not mp.resample_soft_labels(df, random_state=1)["flipped"].equals(a["flipped"])


def test_a_column_without_its_partner_is_left_alone():
    df = _pairs()  # chosen_id without rejected_id: nothing to swap it with
    out = mp.resample_soft_labels(df, random_state=2)
    assert out["chosen_id"].tolist() == df["chosen_id"].tolist()
    assert "rejected_id" not in out.columns
    flipped = out["flipped"].to_numpy()
    assert flipped.any() and (~flipped).any()
    assert out.loc[flipped, "chosen"].tolist() == df.loc[flipped, "rejected"].tolist()


def test_integer_labels_and_margins_become_floats():
    df = pd.DataFrame({"chosen": ["a", "b"], "rejected": ["x", "y"], "p_chosen": [1, 0], "margin": [2, 3]})
    out = mp.resample_soft_labels(df)
    assert out["p_chosen"].dtype == np.float64 and out["p_chosen"].tolist() == [1.0, 1.0]
    assert out["margin"].dtype == np.float64 and out["margin"].tolist() == [2.0, -3.0]
    assert out["chosen"].tolist() == ["a", "y"] and out["flipped"].tolist() == [False, True]


def test_resample_refusals_name_the_problem():
    with pytest.raises(mp.DataError) as err:
        mp.resample_soft_labels([1, 2])
    assert str(err.value) == "df: got list, expected a pandas DataFrame of pairs"
    with pytest.raises(mp.DataError) as err:
        mp.resample_soft_labels(pd.DataFrame({"chosen": ["a"]}))
    assert str(err.value) == "df: missing column(s) ['rejected', 'p_chosen']; expected 'chosen', 'rejected', 'p_chosen'"
    bad = pd.DataFrame({"chosen": ["a", "b"], "rejected": ["x", "y"], "p_chosen": [0.5, "high"]})
    with pytest.raises(mp.DataError) as err:
        mp.resample_soft_labels(bad)
    assert str(err.value) == "df: column 'p_chosen', row 1: got 'high', expected a probability in [0, 1]"


def test_lookup_messages_name_prompt_or_response():
    table = {"p1": "text"}
    assert dpo_pairs._lookup(table, "p1", "prompt", 0, "p1") == "text"
    with pytest.raises(mp.DataError) as err:
        dpo_pairs._lookup(table, "p9", "prompt", 3, "p9")
    assert str(err.value) == ("data_or_candidates: prompt 'p9' (pair 3, column 'prompt') has no text; "
                              "expected the lottery's prompts and candidates to be in the data")
    with pytest.raises(mp.DataError) as err:
        dpo_pairs._lookup(table, ("p1", "r"), "chosen", 0, "r")
    assert str(err.value) == ("data_or_candidates: response 'r' (pair 0, column 'chosen') has no text; "
                              "expected the lottery's prompts and candidates to be in the data")


def test_a_non_lottery_is_refused_with_a_pointer():
    from types import SimpleNamespace

    with pytest.raises(mp.DataError) as err:
        mp.to_dpo_pairs(SimpleNamespace(probs=1))
    assert str(err.value) == ("lottery: got SimpleNamespace without attribute(s) ['candidates', 'mask', 'prompts']; "
                              "expected a mp.Lottery (from mp.aggregate(profile, rule))")


def test_pairwise_labels_refuse_beta_with_the_reason():
    profile = mp.Profile(np.array([[[[0.5, 0.8], [0.2, 0.5]]]]), np.array([1.0]))
    with pytest.raises(mp.DataError) as err:
        mp.to_dpo_pairs(mp.aggregate(profile, "borda"), labels="pairwise", beta=0.1)
    assert str(err.value) == (
        "labels='pairwise' with beta/reference: head-to-head probabilities do not depend on the trainer's beta "
        "or reference, so their DPO optimum is not the lottery; use labels='lottery' (the default with beta)")


def test_posterior_lottery_labels_use_the_reference_policy():
    # labels="lottery" from a LotteryPosterior: the mean lottery q's labels at beta and the given
    # reference pi, sigma(beta [(log q_c - log pi_c) - (log q_r - log pi_r)]), by hand
    from scipy.special import expit

    def matrix(a, b, c):
        return np.array([[0.5, a, b], [1 - a, 0.5, c], [1 - b, 1 - c, 0.5]])

    # Condorcet cycles x > y > z > x of different strengths: every draw's maximal lottery is mixed
    draws = np.stack([matrix(0.8, 0.3, 0.6), matrix(0.7, 0.4, 0.9), matrix(0.6, 0.2, 0.7)])[:, None, None]
    prof = mp.Profile(draws.mean(0), [1.0], samples=draws, candidates=np.array([["x", "y", "z"]], dtype=object),
                      prompts=["q"])
    post = mp.aggregate(prof, "maximal_lottery", posterior=True, study=False, method="lp")
    q = np.asarray(post.mean.probs, dtype=float)[0]
    assert (q > 0.05).all() and np.ptp(q) > 0.03
    ref = np.array([[0.2, 0.5, 0.3]])
    pairs = mp.to_dpo_pairs(post, strategy="all_pairs", labels="lottery", beta=2.0, reference=ref, confidence=None)
    assert len(pairs) == 3
    idx = {"x": 0, "y": 1, "z": 2}
    for _, row in pairs.iterrows():
        c, r = idx[row["chosen_id"]], idx[row["rejected_id"]]
        expected = expit(2.0 * ((np.log(q[c]) - np.log(ref[0, c])) - (np.log(q[r]) - np.log(ref[0, r]))))
        assert row["p_chosen"] == pytest.approx(expected, rel=1e-9)


def test_a_lottery_like_object_without_a_rule_gives_an_empty_rule_column():
    from types import SimpleNamespace

    lottery = SimpleNamespace(probs=np.array([[0.7, 0.3]]), candidates=np.array([["a", "b"]], dtype=object),
                              mask=np.ones((1, 2), dtype=bool), prompts=["q"])
    with pytest.warns(UserWarning):  # no pairwise matrix: the win-probability columns are left out
        pairs = mp.to_dpo_pairs(lottery, labels="lottery", beta=1.0)
    assert pairs["rule"].tolist() == [""]
    assert pairs["p_chosen"].tolist() == [pytest.approx(0.7)]  # q_a / (q_a + q_b) at beta 1, uniform reference
