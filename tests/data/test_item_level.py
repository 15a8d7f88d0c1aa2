"""Item-level data (the same few items under many prompts): Features.one_hot and ids mode."""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp

MODELS = ["gpt-4", "claude-v1", "vicuna-13b", "llama-13b", "alpaca-13b", "dolly-v2"]


def _mt_bench(n=900, seed=0):
    """An MT-Bench-shaped judgment table drawn from known item strengths."""
    rng = np.random.default_rng(seed)
    strength = np.linspace(1.5, -1.5, len(MODELS))
    a = rng.integers(0, len(MODELS), n)
    b = (a + rng.integers(1, len(MODELS), n)) % len(MODELS)
    win = rng.random(n) < 1 / (1 + np.exp(-(strength[a] - strength[b])))
    frame = pd.DataFrame(
        {
            "question_id": rng.integers(81, 161, n),
            "turn": rng.integers(1, 3, n),
            "model_a": np.array(MODELS)[a],
            "model_b": np.array(MODELS)[b],
            "winner": np.where(win, "model_a", "model_b"),
            "judge": rng.choice(["expert_0", "expert_1", "author_2"], n),
        }
    )
    return frame, a, b, win


def _read_mt(frame, **kw):
    return mp.PreferenceData.from_frame(
        frame, prompt="question_id", response_a="model_a", response_b="model_b", label="winner",
        annotator="judge", label_map={"model_a": "a", "model_b": "b", "tie": "tie"}, **kw,
    )


def test_one_hot_rows_follow_responses_and_columns_name_items():
    frame, *_ = _mt_bench(200)
    data = _read_mt(frame)
    f = mp.Features.one_hot(data)
    assert list(f.ids) == data.responses["response_id"].tolist()
    assert f.item_names == sorted(MODELS)
    # each row is the one-hot vector of its response's model name (an independent lookup)
    expected = np.array([[name == item for item in sorted(MODELS)] for name in data.responses["text"]], dtype=np.float32)
    np.testing.assert_array_equal(f.embeddings, expected)
    # the same item under many prompts: several responses, one column
    assert len(data.responses) > len(MODELS)


def test_one_hot_item_level_bt_matches_choix_and_gives_one_reward_per_item():
    choix = pytest.importorskip("choix")
    frame, a, b, win = _mt_bench()
    data = _read_mt(frame)
    f = mp.Features.one_hot(data)
    model = mp.BradleyTerry(prior_scale=None, dtype="float64").fit(data, f)
    rewards = model.rewards(f)
    per_item = pd.Series(rewards).groupby(data.responses["text"].to_numpy()).agg(["min", "max"])
    np.testing.assert_allclose(per_item["min"], per_item["max"], atol=1e-9)  # one reward per item
    ours = per_item["min"].reindex(MODELS).to_numpy()
    pairs = [(int(i), int(j)) if w else (int(j), int(i)) for i, j, w in zip(a, b, win)]
    theirs = choix.ilsr_pairwise(len(MODELS), pairs, tol=1e-12, max_iter=10_000)
    assert np.max(np.abs((ours - ours.mean()) - (theirs - theirs.mean()))) <= 1e-3
    # the coefficients are the items' rewards, named by item_names
    np.testing.assert_allclose(pd.Series(model.coef_, index=f.item_names).reindex(MODELS), ours, atol=1e-9)


def test_one_hot_with_given_items_lines_up_other_data_and_names_missing_items():
    frame, *_ = _mt_bench(300)
    data = _read_mt(frame)
    items = list(reversed(MODELS)) + ["unseen-model"]
    f = mp.Features.one_hot(data, items=items)
    assert f.item_names == items and f.dim == len(items)
    assert f.embeddings[:, -1].sum() == 0
    assert [items[k] for k in f.embeddings.argmax(1)] == data.responses["text"].tolist()
    with pytest.raises(mp.DataError, match="not in items="):
        mp.Features.one_hot(data, items=MODELS[:2])
    with pytest.raises(mp.DataError, match="by='model'"):
        mp.Features.one_hot(data, by="model")


def test_one_hot_survives_align_and_save(tmp_path):
    frame, *_ = _mt_bench(100)
    data = _read_mt(frame)
    f = mp.Features.one_hot(data)
    g = f.align(list(f.ids)[::-1])
    assert g.item_names == f.item_names
    f.save(tmp_path / "feat")
    assert mp.Features.load(tmp_path / "feat").item_names == f.item_names
    mp.Features(["x"], np.ones((1, 2))).save(tmp_path / "feat")  # overwriting drops the old names
    assert mp.Features.load(tmp_path / "feat").item_names is None


def test_ids_mode_item_level_with_and_without_a_responses_table():
    # survey shape: items by id, one global prompt (prompt=None), display names in a table
    survey = pd.DataFrame(
        {"item_a": ["u1", "u2", "u3", "u1"], "item_b": ["u2", "u3", "u1", "u3"], "winner": ["item_a", "item_b", "item_a", "item_a"],
         "subject": ["s1", "s1", "s2", "s2"]}
    )
    opts = dict(prompt=None, response_a="item_a", response_b="item_b", label="winner", annotator="subject",
                label_map={"item_a": "a", "item_b": "b"})
    data = mp.PreferenceData.from_frame(survey, responses="ids", **opts)
    f = mp.Features.one_hot(data)
    assert f.item_names == ["u1", "u2", "u3"] and list(f.ids) == ["u1", "u2", "u3"]
    table = pd.DataFrame({"response_id": ["u1", "u2", "u3", "u4"], "text": ["Oxford", "MIT", "ETH", "Kyoto"],
                          "prompt_id": "default"})
    named = mp.PreferenceData.from_frame(survey, responses=table, **opts)
    g = mp.Features.one_hot(named)
    assert g.item_names == ["ETH", "Kyoto", "MIT", "Oxford"]  # the uncompared item is kept
    assert [g.item_names[k] for k in g.embeddings.argmax(1)] == ["Oxford", "MIT", "ETH", "Kyoto"]
    assert mp.Features.one_hot(named, by="response_id").item_names == ["u1", "u2", "u3", "u4"]
    # the same id under two prompts in ids mode is refused with the way out named
    with pytest.raises(mp.DataError, match="prompt=None"):
        mp.PreferenceData.from_frame(survey.assign(q=[1, 2, 1, 2]), responses="ids", **{**opts, "prompt": "q"})


def test_ids_mode_per_prompt_ids_with_item_texts_share_columns():
    frame = pd.DataFrame({"q": ["q1", "q1", "q2"], "ra": ["q1/gpt", "q1/vic", "q2/gpt"], "rb": ["q1/vic", "q1/lla", "q2/lla"],
                          "label": ["a", "b", "a"]})
    table = pd.DataFrame({"response_id": ["q1/gpt", "q1/vic", "q1/lla", "q2/gpt", "q2/lla"],
                          "text": ["gpt", "vic", "lla", "gpt", "lla"], "prompt_id": ["q1", "q1", "q1", "q2", "q2"]})
    data = mp.PreferenceData.from_frame(frame, prompt="q", response_a="ra", response_b="rb", responses=table)
    f = mp.Features.one_hot(data)
    assert f.item_names == ["gpt", "lla", "vic"]
    rows = dict(zip(f.ids, f.embeddings.argmax(1)))
    assert rows["q1/gpt"] == rows["q2/gpt"] == 0 and rows["q1/lla"] == rows["q2/lla"] == 1
