"""``mixpref fit --model lowrank --rank K`` and ``--shrinkage auto`` through the CLI."""

import json

import mixpref as mp
from mixpref.cli import main


def _write(tmp_path):
    pop = mp.synthetic.population(n_types=2, n_annotators=30, comparisons_per_annotator=30, dim=6, n_prompts=5,
                                  responses_per_prompt=6, logit_sd=3.0, random_state=0)
    pop.data.to_frame().to_csv(tmp_path / "prefs.csv", index=False)
    data = mp.read(tmp_path / "prefs.csv", annotator="annotator")
    by_text = dict(zip(pop.features.ids, pop.features.embeddings))
    mp.Features(data.responses["response_id"], [by_text[t] for t in data.responses["text"]]).save(tmp_path / "feats")
    return tmp_path / "prefs.csv", tmp_path / "feats"


def test_fit_lowrank_and_shrinkage(tmp_path):
    csv, feats = _write(tmp_path)
    common = ["--annotator", "annotator", "--features", str(feats), "--device", "cpu", "--no-progress", "--heldout", "0"]
    assert main(["fit", str(csv), "--model", "lowrank", "--rank", "2", "--out", str(tmp_path / "lr"), *common]) == 0
    model = mp.load_model(tmp_path / "lr")
    assert type(model).__name__ == "LowRankBT" and model.rank == 2
    assert model.annotator_weights_.shape == (30, 2)
    assert json.loads((tmp_path / "lr" / "metrics.json").read_text())["n_types"] == 2
    assert main(["fit", str(csv), "--model", "lowrank", "--rank", "2", "--weights", "free", "--out",
                 str(tmp_path / "lrf"), *common]) == 0
    assert mp.load_model(tmp_path / "lrf").weights == "free"
    assert main(["fit", str(csv), "--types", "2", "--shrinkage", "auto", "--restarts", "1", "--out",
                 str(tmp_path / "sh"), *common]) == 0
    shrunk = mp.load_model(tmp_path / "sh")
    assert shrunk.shrinkage == "auto"


def test_fit_lowrank_user_errors(tmp_path, capsys):
    csv, feats = _write(tmp_path)
    common = ["--annotator", "annotator", "--features", str(feats), "--device", "cpu", "--no-progress"]
    assert main(["fit", str(csv), "--model", "lowrank", "--rank", "0", "--out", str(tmp_path / "x"), *common]) == 2
    assert "rank: got 0" in capsys.readouterr().err
    assert main(["fit", str(csv), "--model", "lowrank", "--rank", "31", "--out", str(tmp_path / "x"), *common]) == 2
    assert "more basis functions than annotators" in capsys.readouterr().err
    assert main(["fit", str(csv), "--shrinkage", "auto", "--out", str(tmp_path / "x"), *common]) == 2
    assert "fixed number of types" in capsys.readouterr().err
    assert main(["fit", str(csv), "--types", "2", "--shrinkage", "lots", "--out", str(tmp_path / "x"), *common]) == 2
    assert "expected 'auto' or a positive number" in capsys.readouterr().err
