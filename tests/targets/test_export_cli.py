"""`mixpref export`: a profile or lottery file plus the data -> DPO pairs on disk."""

import json

import numpy as np
import pandas as pd
import pytest

import mixpref as mp
from mixpref.cli import main


@pytest.fixture()
def setup(tmp_path):
    df = pd.DataFrame({"prompt": ["q1", "q1", "q1", "q2"], "response_a": ["x", "y", "x", "u"],
                       "response_b": ["y", "z", "z", "v"], "label": ["a", "a", "a", "b"]})
    data_path = tmp_path / "prefs.csv"
    df.to_csv(data_path, index=False)
    data = mp.read(data_path)
    cands = data.candidates()
    groups = [g.response_id.tolist() for _, g in cands.groupby("prompt_id", sort=False)]
    m = max(map(len, groups))
    rewards = np.zeros((len(groups), 2, m))
    texts = dict(zip(data.responses.response_id, data.responses.text))
    order = {"x": 3.0, "y": 2.0, "z": 1.0, "u": 0.0, "v": 1.0}
    for p, g in enumerate(groups):
        for j, rid in enumerate(g):
            rewards[p, :, j] = order[texts[rid]]
    cand = np.array([g + [None] * (m - len(g)) for g in groups], dtype=object)
    prof = mp.Profile.from_rewards(rewards, np.array([0.5, 0.5]), candidates=cand, mask=cand != None,  # noqa: E711
                                   prompts=pd.Index(cands.prompt_id.drop_duplicates().tolist()))
    prof_path = tmp_path / "profile.npz"
    prof.save(prof_path)
    return data_path, prof_path, prof


def test_export_from_profile_and_rule(setup, tmp_path, capsys):
    data_path, prof_path, _ = setup
    out = tmp_path / "pairs.jsonl"
    code = main(["export", str(data_path), "--profile", str(prof_path), "--rule", "borda", "--out", str(out),
                 "--strategy", "all_pairs"])
    assert code == 0, capsys.readouterr()
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in rows] == [
        ("q1", "x", "y"), ("q1", "x", "z"), ("q1", "y", "z"), ("q2", "v", "u")]
    assert rows[0]["p_chosen"] == pytest.approx(1 / (1 + np.exp(-1.0)))
    assert "wrote 4 pairs for 2 prompts" in capsys.readouterr().out


def test_export_from_lottery_file(setup, tmp_path, capsys):
    data_path, _, prof = setup
    lot_path = tmp_path / "lottery.csv"
    mp.aggregate(prof, "pooled", temperature=1.0).to_frame().to_csv(lot_path, index=False)
    out = tmp_path / "pairs.parquet"
    with pytest.warns(UserWarning, match="no pooled matrix"):
        code = main(["export", str(data_path), "--lottery", str(lot_path), "--out", str(out)])
    assert code == 0, capsys.readouterr()
    pairs = pd.read_parquet(out)
    assert pairs.chosen.tolist() == ["x", "x", "v"] and pairs.rejected.tolist() == ["y", "z", "u"]
    assert "p_chosen" not in pairs.columns  # a lottery file carries no pooled matrix: left out, with a warning


def test_export_user_errors_exit_2(setup, tmp_path, capsys):
    data_path, prof_path, _ = setup
    assert main(["export", str(data_path), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert main(["export", str(data_path), "--profile", str(prof_path), "--out", str(tmp_path / "x.txt")]) == 2
    assert main(["export", str(data_path), "--profile", str(prof_path), "--rule", "nope",
                 "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("mixpref: error:") == 2 and "rule" in err
    assert not (tmp_path / "x.jsonl").exists()
