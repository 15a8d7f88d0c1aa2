"""A user's own data in four commands: MT-Bench-style judgments and a paired-comparison survey.

The files are synthetic with known item strengths (written here), in the shapes of
``lmsys/mt_bench_human_judgments`` (``question_id, turn, model_a, model_b, winner, judge``;
winners ``model_a``/``model_b``/``tie``/``tie (bothbad)``) and of a paired-comparison survey
(``item_a, item_b, winner, subject``). The oracle is the order of the strengths that generated
the labels.
"""

import json

import numpy as np
import pandas as pd
import pytest

from mixpref.cli import main

MODELS = {"gpt-4": 2.4, "claude-v1": 1.6, "gpt-3.5-turbo": 0.9, "vicuna-13b-v1.2": 0.2, "alpaca-13b": -0.6,
          "llama-13b": -1.4}
LABEL_MAP = "model_a=a,model_b=b,tie=tie,tie (bothbad)=tie"


def _mt_bench(path, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    names = list(MODELS)
    rows = []
    for _ in range(n):
        i, j = rng.choice(len(names), size=2, replace=False)
        diff = MODELS[names[i]] - MODELS[names[j]]
        u = rng.uniform()
        if u < 0.08:
            winner = "tie"
        elif u < 0.12:
            winner = "tie (bothbad)"
        else:
            winner = "model_a" if rng.uniform() < 1 / (1 + np.exp(-diff)) else "model_b"
        rows.append({"question_id": int(rng.integers(81, 161)), "turn": int(rng.integers(1, 3)), "model_a": names[i],
                     "model_b": names[j], "winner": winner, "judge": f"expert_{int(rng.integers(0, 20))}"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


COLUMNS = ["--prompt", "question_id", "--response-a", "model_a", "--response-b", "model_b", "--label", "winner",
           "--annotator", "judge", "--label-map", LABEL_MAP]


def test_mt_bench_in_four_commands(tmp_path, capsys):
    data = str(_mt_bench(tmp_path / "mt_bench_human_judgments.csv"))
    m = tmp_path / "m"
    # 1. look at the data
    assert main(["data", "summary", data, *COLUMNS]) == 0
    assert "mt_bench_human_judgments.csv" in capsys.readouterr().out
    # 2. fit item-level (comparisons pooled over questions: no --prompt)
    args = [a for a in COLUMNS if a not in ("--prompt", "question_id")]
    assert main(["fit", data, "--item-level", *args, "--ks", "1-2", "--restarts", "1", "--device", "cpu",
                 "--no-progress", "--tracking-uri", "none", "--out", str(m)]) == 0
    printed = capsys.readouterr().out
    rewards = pd.read_csv(m / "rewards.csv")
    assert list(rewards.columns[:2]) == ["response_id", "text"] and len(rewards) == len(MODELS)
    reward = rewards["reward"] if "reward" in rewards else rewards.filter(like="reward_").mean(axis=1)
    assert rewards.assign(r=reward).sort_values("r", ascending=False)["text"].tolist() == list(MODELS)
    assert rewards["text"].tolist() == list(MODELS)  # the file itself is sorted best first
    assert "ranking by reward" in printed and printed.index("gpt-4") < printed.index("llama-13b")
    assert "held-out log-likelihood" in printed
    source = json.loads((m / "source.json").read_text())
    assert source["item_level"] and sorted(source["item_names"]) == sorted(MODELS)
    # 3. compare the rules on the fitted population (data and features come from m/source.json)
    assert main(["aggregate", "--model", str(m), "--compare", "--no-progress", "--tracking-uri", "none"]) == 0
    assert "maximal_lottery" in capsys.readouterr().out
    # 4. the lottery over the items, with their names
    assert main(["aggregate", "--model", str(m), "--rule", "borda", "--tracking-uri", "none",
                 "--out", str(tmp_path / "lottery.csv")]) == 0
    lottery = pd.read_csv(tmp_path / "lottery.csv")
    assert set(lottery.columns) >= {"prompt_id", "response_id", "text", "prob", "rule"}
    assert lottery.sort_values("prob", ascending=False)["text"].iloc[0] == "gpt-4"


def test_mt_bench_per_question_and_numeric_label_codes(tmp_path):
    frame = pd.read_csv(_mt_bench(tmp_path / "mt.csv", n=600, seed=1))
    frame = frame[~frame["winner"].str.startswith("tie (")]
    frame["winner"] = frame["winner"].map({"model_a": 1, "model_b": -1, "tie": 0})
    frame.to_csv(tmp_path / "coded.csv", index=False)
    args = ["--prompt", "question_id", "--response-a", "model_a", "--response-b", "model_b", "--label", "winner",
            "--label-map", "1=a,-1=b,0=tie"]
    assert main(["fit", str(tmp_path / "coded.csv"), "--item-level", *args, "--model", "bt", "--device", "cpu",
                 "--no-progress", "--tracking-uri", "none", "--out", str(tmp_path / "m")]) == 0
    rewards = pd.read_csv(tmp_path / "m" / "rewards.csv")
    assert rewards["text"].tolist()[:2] == ["gpt-4", "claude-v1"] and rewards["text"].iloc[-1] == "llama-13b"
    # per question: the lottery has one prompt per question, each over the models judged on it
    assert main(["aggregate", "--model", str(tmp_path / "m"), "--rule", "pooled", "--tracking-uri", "none",
                 "--out", str(tmp_path / "l.csv")]) == 0
    lottery = pd.read_csv(tmp_path / "l.csv")
    assert lottery["prompt_id"].nunique() > 40 and set(lottery["text"]) <= set(MODELS)


def test_unknown_labels_without_a_label_map_exit_2(tmp_path, capsys):
    data = str(_mt_bench(tmp_path / "mt.csv", n=50))
    args = ["--prompt", "question_id", "--response-a", "model_a", "--response-b", "model_b", "--label", "winner"]
    assert main(["data", "summary", data, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mixpref: error:")
    assert "'model_a'" in err and "label" in err


@pytest.fixture
def survey(tmp_path):
    """40 subjects of two kinds with opposite tastes over five cities (types known)."""
    rng = np.random.default_rng(3)
    cities = ["Vienna", "Lisbon", "Oslo", "Athens", "Tallinn"]
    strength = np.array([1.5, 0.75, 0.0, -0.75, -1.5])
    rows = []
    for s in range(40):
        sign = 1.0 if s < 24 else -1.0
        for _ in range(30):
            i, j = rng.choice(5, size=2, replace=False)
            p = 1 / (1 + np.exp(-2.0 * sign * (strength[i] - strength[j])))
            rows.append({"item_a": cities[i], "item_b": cities[j],
                         "winner": "item_a" if rng.uniform() < p else "item_b", "subject": f"s{s:02d}"})
    path = tmp_path / "survey.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path, cities


def test_paired_comparison_survey_two_types(survey, tmp_path, capsys):
    path, cities = survey
    args = ["--response-a", "item_a", "--response-b", "item_b", "--label", "winner", "--annotator", "subject",
            "--label-map", "item_a=a,item_b=b"]
    assert main(["fit", str(path), "--item-level", *args, "--types", "2", "--restarts", "2", "--device", "cpu",
                 "--no-progress", "--tracking-uri", "none", "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "2 type(s)" in out
    rewards = pd.read_csv(tmp_path / "m" / "rewards.csv").set_index("text")
    assert list(rewards.columns) == ["response_id", "reward_0", "reward_1"]
    orders = sorted(rewards[c].sort_values(ascending=False).index.tolist() for c in ("reward_0", "reward_1"))
    assert orders == sorted([cities, cities[::-1]])
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert sorted(round(w, 1) for w in metrics["weights"]) == [0.4, 0.6]
