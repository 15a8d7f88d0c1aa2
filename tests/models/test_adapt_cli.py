"""``mixpref adapt --model DIR NEW_DATA --out DIR2`` (the command function, through typer)."""

import json

import numpy as np
import pandas as pd
import typer

import mixpref as mp
from mixpref.cli import adapt as adapt_cli
from mixpref.cli.errors import run_app


def _app():
    app = typer.Typer()
    adapt_cli.register(app)

    @app.command("noop")
    def _noop():  # a second command keeps typer's sub-command layout
        pass

    return app


def _files(tmp_path):
    pop = mp.synthetic.population(n_types=2, n_annotators=40, comparisons_per_annotator=30, dim=6, n_prompts=5,
                                  responses_per_prompt=6, logit_sd=3.0, random_state=0)
    frame = pop.data.to_frame()
    old = frame[frame.annotator.isin([f"a{i}" for i in range(30)])]
    new = frame[~frame.annotator.isin([f"a{i}" for i in range(30)])]
    old.to_csv(tmp_path / "old.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    data = mp.read(tmp_path / "old.csv", annotator="annotator")
    by_text = dict(zip(pop.features.ids, pop.features.embeddings))
    feats = mp.Features(data.responses["response_id"], [by_text[t] for t in data.responses["text"]])
    feats.save(tmp_path / "feats")
    model = mp.MixtureBT(n_types=2, n_restarts=1).fit(data, feats)
    model.save(tmp_path / "m")
    return pop, tmp_path / "new.csv", tmp_path / "feats", tmp_path / "m"


def test_adapt_command(tmp_path):
    pop, new_csv, feats, model_dir = _files(tmp_path)
    code = run_app(_app(), ["adapt", str(new_csv), "--annotator", "annotator", "--model", str(model_dir),
                            "--features", str(feats), "--out", str(tmp_path / "m2")])
    assert code == 0
    table = pd.read_csv(tmp_path / "m2" / "annotators.csv")
    assert len(table) == 40 and table.adapted.sum() == 10
    metrics = json.loads((tmp_path / "m2" / "metrics.json").read_text())
    assert metrics["annotators_adapted"] == 10
    adapted = mp.load_model(tmp_path / "m2")
    assert adapted.responsibilities_.shape == (40, 2)
    # the known answer: logit sd 3 types are recognised from 30 comparisons
    truth = pop.truth.annotator_types
    post = adapted.responsibilities_.loc[[f"a{i}" for i in range(30, 40)]].to_numpy().argmax(1)
    train_map = pd.crosstab(truth.loc[[f"a{i}" for i in range(30)]].to_numpy(),
                            adapted.responsibilities_.iloc[:30].to_numpy().argmax(1)).to_numpy().argmax(1)
    assert (train_map[truth.loc[[f"a{i}" for i in range(30, 40)]].to_numpy()] == post).mean() >= 0.9


def test_adapt_command_user_errors(tmp_path):
    pop, new_csv, feats, model_dir = _files(tmp_path)
    assert run_app(_app(), ["adapt", str(new_csv), "--model", str(tmp_path / "nowhere"), "--features", str(feats),
                            "--out", str(tmp_path / "x")]) == 2
    other = mp.Features(mp.Features.load(feats).ids, np.zeros((len(mp.Features.load(feats).ids), 3)))
    other.save(tmp_path / "feats3")
    assert run_app(_app(), ["adapt", str(new_csv), "--annotator", "annotator", "--model", str(model_dir),
                            "--features", str(tmp_path / "feats3"), "--out", str(tmp_path / "x")]) == 2
