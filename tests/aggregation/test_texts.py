"""Names, not hashes: a profile carries candidate texts, lotteries and tables show them."""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp

REWARDS = np.array([[[2.0, 1.0, 0.0]], [[0.0, 1.0, np.nan]]])  # prompt 1 has two candidates
MASK = np.array([[True, True, True], [True, True, False]])
CANDS = [["h1", "h2", "h3"], ["h4", "h5"]]
LONG = "An argument that goes on " + "and on " * 30


def _profile(**kwargs):
    return mp.Profile.from_rewards(REWARDS, weights=[1.0], candidates=CANDS, mask=MASK, **kwargs)


def test_texts_from_a_mapping_or_rows_and_into_the_lottery_frame():
    by_id = {"h1": "Paris", "h2": LONG, "h4": "Rome", "h5": "Oslo"}  # h3 unknown
    prof = _profile(texts=by_id)
    assert prof.texts[0].tolist() == ["Paris", LONG, None] and prof.texts[1].tolist() == ["Rome", "Oslo", None]
    rows = _profile(texts=[["Paris", LONG, None], ["Rome", "Oslo"]])
    assert rows.texts.tolist() == prof.texts.tolist()
    frame = mp.aggregate(prof, "borda").to_frame()
    assert list(frame.columns) == ["prompt_id", "response_id", "text", "prob", "score"]
    assert frame["text"].tolist()[0] == "Paris" and frame["text"].isna().tolist() == [False, False, True, False, False]
    long = frame["text"].tolist()[1]
    assert len(long) == 80 and long.endswith("…") and LONG.startswith(long[:-1])
    # without texts the frame has no text column (nothing invented)
    assert "text" not in mp.aggregate(_profile(), "borda").to_frame().columns
    series = _profile(texts=pd.Series(by_id))
    assert series.texts.tolist() == prof.texts.tolist()


def test_texts_survive_save_and_load(tmp_path):
    prof = _profile(texts={"h1": "Paris", "h2": "Lyon", "h4": "Rome", "h5": "Oslo"})
    prof.save(tmp_path / "p.npz")
    back = mp.Profile.load(tmp_path / "p.npz")
    assert back.texts.tolist() == prof.texts.tolist()
    assert mp.Profile.load(_save(_profile(), tmp_path / "q.npz")).texts is None


def _save(prof, path):
    prof.save(path)
    return path


def test_bad_texts_name_the_problem():
    with pytest.raises(mp.DataError, match="texts: prompt 1 has 1 texts for 2"):
        _profile(texts=[["a", "b", "c"], ["d"]])
    with pytest.raises(mp.DataError, match="texts: 1 rows for 2 prompts"):
        _profile(texts=[["a", "b", "c"]])


def test_compare_rules_names_the_winner_of_a_single_prompt():
    prof = mp.Profile.from_rewards(np.array([[[0.0, 3.0, 1.0]]]), weights=[1.0], candidates=[["x", "y", "z"]],
                                   texts={"y": "the best answer"})
    table = mp.compare_rules(prof, rules=["borda", "majority"])
    assert table["top"].tolist() == ["the best answer", "the best answer"]
    plain = mp.Profile.from_rewards(np.array([[[0.0, 3.0, 1.0]]]), weights=[1.0], candidates=[["x", "y", "z"]])
    assert mp.compare_rules(plain, rules=["borda"])["top"].tolist() == ["y"]


def test_lottery_bad_input_raises_data_error():
    with pytest.raises(mp.DataError, match="probs: expected shape"):
        mp.Lottery(np.ones(3), np.ones(3), "x")
    with pytest.raises(mp.DataError, match="scores: shape"):
        mp.Lottery(np.ones((1, 2)) / 2, np.ones((1, 3)), "x")
    with pytest.raises(mp.DataError, match=r"probs\[0, 1\]: got -0.5"):
        mp.Lottery([[1.5, -0.5]], [[0.0, 0.0]], "x")
    with pytest.raises(mp.DataError, match="expected numbers"):
        mp.Lottery([["a", "b"]], [[0.0, 0.0]], "x")
    with pytest.raises(mp.DataError, match="no pooled matrix"):
        mp.Lottery([[1.0, 0.0]], [[0.0, 0.0]], "x").exploitability()
