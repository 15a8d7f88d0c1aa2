"""to_dpo_pairs strategies, columns, soft-label resampling, writers."""

import json

import numpy as np
import pandas as pd
import pytest

import mixpref as mp


def cycle_profile():
    """Two prompts, each with a Condorcet cycle a > b > c > a among the first three candidates
    (three equally weighted types), plus losers every type ranks last."""
    rewards = []
    for m in (4, 5):
        r = np.zeros((3, m))
        for k, order in enumerate([(0, 1, 2), (1, 2, 0), (2, 0, 1)]):
            for rank, item in enumerate(order):
                r[k, item] = 6.0 - 2.0 * rank
            r[k, 3:] = [-4.0, -6.0][: m - 3]
        rewards.append(r)
    width = 5
    padded = np.full((2, 3, width), 0.0)
    mask = np.zeros((2, width), dtype=bool)
    for p, r in enumerate(rewards):
        padded[p, :, : r.shape[1]] = r
        mask[p, : r.shape[1]] = True
    cands = np.array([["a", "b", "c", "d", None], ["a", "b", "c", "d", "e"]], dtype=object)
    return mp.Profile.from_rewards(padded, np.ones(3) / 3, candidates=cands, prompts=pd.Index(["p0", "p1"]), mask=mask)


def random_profile(n_prompts=4, m=5, seed=0):
    """Random BT types: no ties in any rule's ranking (almost surely)."""
    rewards = np.random.default_rng(seed).normal(0, 1.5, size=(n_prompts, 3, m))
    return mp.Profile.from_rewards(rewards, np.array([0.5, 0.3, 0.2]))


def text_table(lottery):
    frame = lottery.to_frame()[["prompt_id", "response_id"]]
    frame["prompt"] = "question " + frame["prompt_id"].astype(str)
    frame["response"] = "answer " + frame["response_id"].astype(str) + " to " + frame["prompt_id"].astype(str)
    return frame


def test_winner_vs_rest_columns_and_values():
    profile = cycle_profile()
    lot = mp.aggregate(profile, "borda")
    pairs = mp.to_dpo_pairs(lot, text_table(lot))
    assert list(pairs.columns[:11]) == ["prompt_id", "chosen_id", "rejected_id", "prompt", "chosen", "rejected",
                                        "p_chosen", "weight", "rule", "win_prob_chosen", "win_prob_rejected"]
    pooled = profile.pooled()
    for row in pairs.itertuples():
        p = list(lot.prompts).index(row.prompt_id)
        cands = list(lot.candidates[p])
        c, r = cands.index(row.chosen_id), cands.index(row.rejected_id)
        assert lot.probs[p, c] == lot.probs[p].max()
        assert row.p_chosen == pytest.approx(pooled[p, c, r])
        # win probability against the lottery, computed here from the pooled matrix
        q = lot.probs[p]
        want_c = sum(q[j] * (0.5 if j == c else pooled[p, c, j]) for j in range(len(q)) if lot.mask[p, j])
        assert row.win_prob_chosen == pytest.approx(want_c)
        assert row.prompt == f"question {row.prompt_id}"
        assert row.chosen == f"answer {row.chosen_id} to {row.prompt_id}"
        assert row.rule == "borda"
    # the cycle makes a, b, c tie under Borda: the winner (a) meets only the losers d (and e)
    assert pairs.groupby("prompt_id").size().tolist() == [1, 2]
    assert set(pairs.rejected_id) == {"d", "e"} and set(pairs.chosen_id) == {"a"}
    # each prompt's weights sum to 1
    np.testing.assert_allclose(pairs.groupby("prompt_id")["weight"].sum(), 1.0)
    # the lottery's own win probabilities agree
    wp = lot.win_probabilities()
    assert pairs.win_prob_rejected.iloc[0] == pytest.approx(wp[0, list(lot.candidates[0]).index(pairs.rejected_id.iloc[0])])


def test_all_pairs_orders_by_lottery_and_skips_ties():
    lot = mp.aggregate(cycle_profile(), "maximal_lottery")
    support = {(p, lot.candidates[p, j]) for p in range(2) for j in range(5) if lot.probs[p, j] > 1e-6}
    assert len(support) == 6  # a, b, c in each prompt
    pairs = mp.to_dpo_pairs(lot, strategy="all_pairs")
    keys = list(lot.prompts)
    chosen_in = [(keys.index(p), c) in support for p, c in zip(pairs.prompt_id, pairs.chosen_id)]
    rejected_in = [(keys.index(p), r) in support for p, r in zip(pairs.prompt_id, pairs.rejected_id)]
    # support members tie (equal probability and zero margin against the lottery): never paired together
    assert not any(a and b for a, b in zip(chosen_in, rejected_in))
    # a support member is never rejected in favour of a non-member
    assert not any(b and not a for a, b in zip(chosen_in, rejected_in))
    # every (support, non-support) pair is present: 3*1 + 3*2, plus the ordered losers d > e in p1
    assert len(pairs) == 3 + 6 + 1
    assert (pairs.margin >= 0).all()
    # without texts, the text columns carry the ids
    assert (pairs.chosen == pairs.chosen_id).all()


def test_min_margin_and_n_pairs():
    lot = mp.aggregate(random_profile(), "pooled", temperature=1.0)
    all_pairs = mp.to_dpo_pairs(lot, strategy="all_pairs")
    assert len(all_pairs) == 4 * 10
    big = mp.to_dpo_pairs(lot, strategy="all_pairs", min_margin=0.1)
    assert (big.margin >= 0.1).all() and 0 < len(big) < len(all_pairs)
    top2 = mp.to_dpo_pairs(lot, strategy="all_pairs", n_pairs=2)
    assert top2.groupby("prompt_id").size().tolist() == [2, 2, 2, 2]
    for pid, group in top2.groupby("prompt_id"):
        assert group.margin.min() >= all_pairs[all_pairs.prompt_id == pid].margin.nlargest(2).min() - 1e-12


def test_sampled_follows_the_lottery_and_is_reproducible():
    lot = mp.aggregate(random_profile(), "pooled", temperature=2.0)
    pairs = mp.to_dpo_pairs(lot, strategy="sampled", n_pairs=3000, random_state=3)
    again = mp.to_dpo_pairs(lot, strategy="sampled", n_pairs=3000, random_state=3)
    pd.testing.assert_frame_equal(pairs, again)
    assert not pairs.equals(mp.to_dpo_pairs(lot, strategy="sampled", n_pairs=3000, random_state=4))
    # a candidate appears in a pair through the lottery draw (prob q) or the uniform draw
    # (prob (1 - q) / (M - 1)); check that frequency for the first prompt (M = 5)
    p0 = pairs[pairs.prompt_id == lot.prompts[0]]
    q = lot.probs[0]
    for j, cid in enumerate(lot.candidates[0]):
        seen = ((p0.chosen_id == cid) | (p0.rejected_id == cid)).mean()
        assert seen == pytest.approx(q[j] + (1 - q[j]) / 4, abs=0.035)
    # orientation follows the lottery
    order = {c: -lot.probs[0, j] for j, c in enumerate(lot.candidates[0])}
    assert all(order[c] < order[r] for c, r in zip(p0.chosen_id, p0.rejected_id))


def test_texts_from_preference_data():
    df = pd.DataFrame({"prompt": ["q1", "q1", "q2"], "response_a": ["x", "y", "u"], "response_b": ["y", "z", "v"],
                       "label": ["a", "a", "b"]})
    data = mp.PreferenceData.from_frame(df)
    cands = data.candidates()
    groups = [g.response_id.tolist() for _, g in cands.groupby("prompt_id", sort=False)]
    m = max(map(len, groups))
    cand = np.array([g + [None] * (m - len(g)) for g in groups], dtype=object)
    mask = cand != None  # noqa: E711
    mats = np.full((len(groups), 1, m, m), 0.5)
    mats[0, 0] = [[0.5, 0.9, 0.8], [0.1, 0.5, 0.7], [0.2, 0.3, 0.5]]
    mats[1, 0, :2, :2] = [[0.5, 0.3], [0.7, 0.5]]
    prof = mp.Profile(mats, np.array([1.0]), candidates=cand, mask=mask,
                      prompts=pd.Index(cands.prompt_id.drop_duplicates().tolist()))
    pairs = mp.to_dpo_pairs(mp.aggregate(prof, "borda"), data, strategy="all_pairs")
    texts = dict(zip(data.responses.response_id, data.responses.text))
    assert [texts[c] for c in pairs.chosen_id] == pairs.chosen.tolist()
    first = pairs[pairs.prompt == "q1"]
    assert first.chosen.tolist()[:2] == ["x", "x"] and set(pairs[pairs.prompt == "q2"].chosen) == {"v"}


def test_bad_arguments_raise_data_error():
    lot = mp.aggregate(cycle_profile(), "borda")
    with pytest.raises(mp.DataError, match="strategy"):
        mp.to_dpo_pairs(lot, strategy="best")
    with pytest.raises(mp.DataError, match="n_pairs"):
        mp.to_dpo_pairs(lot, n_pairs=0)
    with pytest.raises(mp.DataError, match="n_pairs"):
        mp.to_dpo_pairs(lot, n_pairs="all")
    assert len(mp.to_dpo_pairs(lot, strategy="sampled", n_pairs=2.0)) <= 2 * len(lot)
    # a text label names its row instead of failing inside numpy
    pairs = pd.DataFrame({"chosen": ["a", "b"], "rejected": ["b", "a"], "p_chosen": [0.7, "high"]})
    with pytest.raises(mp.DataError, match="row 1: got 'high'"):
        mp.resample_soft_labels(pairs)
    with pytest.raises(mp.DataError, match="lottery"):
        mp.to_dpo_pairs(object())
    table = text_table(lot)
    with pytest.raises(mp.DataError, match="response 'e'"):
        mp.to_dpo_pairs(lot, table[table.response_id != "e"])


def test_resample_soft_labels_is_soft_dpo_in_expectation():
    import torch

    rng = np.random.default_rng(0)
    n = 20000
    df = pd.DataFrame({"prompt": ["q"] * n, "chosen": ["a"] * n, "rejected": ["b"] * n,
                       "chosen_id": [1] * n, "rejected_id": [2] * n, "p_chosen": rng.choice([0.9, 0.6, 0.2], n)})
    out = mp.resample_soft_labels(df, random_state=1)
    for p in (0.9, 0.6, 0.2):
        kept = out.loc[df.p_chosen == p]
        assert (kept.chosen == "a").mean() == pytest.approx(p, abs=0.015)
    flipped = out.flipped.to_numpy()
    assert (out.chosen_id[flipped] == 2).all() and (out.rejected[flipped] == "a").all()
    np.testing.assert_allclose(out.p_chosen[flipped], 1 - df.p_chosen[flipped])
    # mean hard DPO loss on resampled pairs ~ mean soft loss on the originals
    h = torch.full((n,), 1.3, dtype=torch.float64)
    zero = torch.zeros(n, dtype=torch.float64)
    sign = torch.as_tensor(np.where(flipped, -1.0, 1.0))
    hard = mp.dpo.loss("sigmoid", sign * h, zero, zero, zero, beta=1.0).mean()
    soft = mp.dpo.loss("soft", h, zero, zero, zero, beta=1.0, p=torch.tensor(df.p_chosen.to_numpy())).mean()
    assert float(hard) == pytest.approx(float(soft), abs=0.01)
    with pytest.raises(mp.DataError, match="p_chosen"):
        mp.resample_soft_labels(df.assign(p_chosen=1.5))


def test_writers_round_trip(tmp_path):
    lot = mp.aggregate(cycle_profile(), "borda")
    pairs = mp.to_dpo_pairs(lot, text_table(lot), strategy="all_pairs")
    path = mp.to_jsonl(pairs, tmp_path / "pairs.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == len(pairs) and lines[0]["chosen"] == pairs.chosen[0]
    assert lines[0]["p_chosen"] == pytest.approx(pairs.p_chosen[0])
    back = pd.read_parquet(mp.to_parquet(pairs, tmp_path / "pairs.parquet"))
    assert back.chosen.tolist() == pairs.chosen.tolist()
    np.testing.assert_allclose(back.win_prob_chosen, pairs.win_prob_chosen)
    assert not list(tmp_path.glob(".*.tmp"))


def test_conversational_data_keeps_messages_for_trl():
    df = pd.DataFrame({
        "prompt": [[{"role": "user", "content": "hi"}]] * 2,
        "chosen": [[{"role": "assistant", "content": "hello"}], [{"role": "assistant", "content": "hey"}]],
        "rejected": [[{"role": "assistant", "content": "go away"}], [{"role": "assistant", "content": "hello"}]],
    })
    data = mp.PreferenceData.from_pairs(df)
    cands = data.candidates()
    cand = np.array([cands.response_id.tolist()], dtype=object)
    # type prefers responses in the order hey > hello > go away
    order = {"hey": 2.0, "hello": 1.0, "go away": 0.0}
    texts = dict(zip(data.responses.response_id, data.responses.messages))
    rewards = np.array([[[order[texts[r][0]["content"]] for r in cand[0]]]])
    prof = mp.Profile.from_rewards(rewards, np.array([1.0]), candidates=cand, prompts=pd.Index(cands.prompt_id.unique()))
    pairs = mp.to_dpo_pairs(mp.aggregate(prof, "borda"), data)
    assert [m[0]["content"] for m in pairs.chosen_messages] == ["hey", "hey"]
    assert [m[0]["content"] for m in pairs.rejected_messages] == ["hello", "go away"]
    ds = mp.to_trl_dataset(pairs, conversational=True)
    assert ds[0]["prompt"] == [{"role": "user", "content": "hi"}]
    assert ds[1]["rejected"] == [{"role": "assistant", "content": "go away"}]
    flipped = mp.resample_soft_labels(pairs.assign(p_chosen=0.0))
    assert [m[0]["content"] for m in flipped.chosen_messages] == ["hello", "go away"]
