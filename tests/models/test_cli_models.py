import json

import mixpref as mp
from mixpref.cli import main


def _write(tmp_path):
    pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=30, dim=6, n_prompts=5,
                                  responses_per_prompt=6, logit_sd=3.0, random_state=0)
    frame = pop.data.to_frame()
    frame.to_csv(tmp_path / "prefs.csv", index=False)
    data = mp.read(tmp_path / "prefs.csv", annotator="annotator")
    feats = pop.features
    # the csv holds the synthetic response ids, which the reader takes as texts: re-key the features
    by_text = dict(zip(feats.ids, feats.embeddings))
    mp.Features(data.responses["response_id"], [by_text[t] for t in data.responses["text"]]).save(tmp_path / "feats")
    return tmp_path / "prefs.csv", tmp_path / "feats"


def test_fit_and_select_commands(tmp_path, capsys):
    csv, feats = _write(tmp_path)
    code = main(["fit", str(csv), "--annotator", "annotator", "--features", str(feats), "--types", "2",
                 "--restarts", "1", "--device", "cpu", "--out", str(tmp_path / "m"), "--no-progress"])
    assert code == 0
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["n_types"] == 2 and metrics["model"] == "Mixture"
    import pandas as pd

    rewards = pd.read_csv(tmp_path / "m" / "rewards.csv")
    data = mp.read(csv, annotator="annotator")
    assert list(rewards.columns) == ["response_id", "prompt_id", "text", "reward_0", "reward_1"]
    assert len(rewards) == len(data.responses) and rewards["text"].tolist() == data.responses["text"].tolist()
    model = mp.load_model(tmp_path / "m")
    assert model.responsibilities_.shape == (30, 2)
    code = main(["select", str(csv), "--annotator", "annotator", "--features", str(feats), "--ks", "1-3",
                 "--restarts", "1", "--device", "cpu", "--out", str(tmp_path / "s"), "--no-progress"])
    assert code == 0
    assert "chosen number of types" in capsys.readouterr().out
    # the known answer: two well-separated types (logit_sd=3) drew this data
    assert json.loads((tmp_path / "s" / "metrics.json").read_text())["chosen_k"] == 2


def test_cli_user_errors_exit_2(tmp_path, capsys):
    csv, feats = _write(tmp_path)
    assert main(["fit", str(csv), "--out", str(tmp_path / "m"), "--no-progress"]) == 2
    assert "no features" in capsys.readouterr().err
    assert main(["fit", str(csv), "--features", str(feats), "--model", "gmm", "--out", str(tmp_path / "m")]) == 2
    assert main(["select", str(csv), "--features", str(feats), "--ks", "x", "--no-progress"]) == 2


def test_fit_with_unwritable_tracking_uri_still_writes_model_and_metrics(tmp_path):
    import pytest

    from mixpref.tracking import MixprefTrackingWarning

    csv, feats = _write(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.warns(MixprefTrackingWarning):
        code = main(["fit", str(csv), "--annotator", "annotator", "--features", str(feats), "--types", "2",
                     "--restarts", "1", "--device", "cpu", "--out", str(tmp_path / "m"), "--no-progress",
                     "--tracking-uri", f"sqlite:///{blocker}/mlflow.db"])
    assert code == 0
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["n_types"] == 2
    assert mp.load_model(tmp_path / "m").weights_.shape == (2,)


def test_aggregate_from_a_fitted_model(tmp_path, capsys):
    csv, feats = _write(tmp_path)
    assert main(["fit", str(csv), "--annotator", "annotator", "--features", str(feats), "--types", "2", "--restarts", "1",
                 "--device", "cpu", "--out", str(tmp_path / "m"), "--no-progress", "--tracking-uri", "none"]) == 0
    code = main(["aggregate", "--model", str(tmp_path / "m"), "--data", str(csv), "--annotator", "annotator",
                 "--features", str(feats), "--rule", "borda", "--out", str(tmp_path / "lottery.csv"),
                 "--save-profile", str(tmp_path / "profile.npz")])
    assert code == 0
    import pandas as pd

    lottery = pd.read_csv(tmp_path / "lottery.csv")
    assert set(lottery.columns) >= {"prompt_id", "response_id", "prob"}
    assert lottery.groupby("prompt_id")["prob"].sum().round(6).eq(1).all()
    assert main(["aggregate", str(tmp_path / "profile.npz"), "--compare"]) == 0
    # the model folder records its data and features (source.json): --model alone is enough
    assert main(["aggregate", "--model", str(tmp_path / "m"), "--rule", "borda", "--out", str(tmp_path / "l2.csv")]) == 0
    again = pd.read_csv(tmp_path / "l2.csv")
    assert again["prob"].tolist() == lottery["prob"].tolist() and "text" in again.columns
    (tmp_path / "m" / "source.json").unlink()
    assert main(["aggregate", "--model", str(tmp_path / "m")]) == 2
