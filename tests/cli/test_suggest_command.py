"""`mixpref suggest`: a fitted model folder and a pool file -> suggestions with texts (and exit codes)."""

import pandas as pd
import pytest
import typer

import mixpref as mp
from mixpref.cli.errors import run_app
from mixpref.cli.suggest import register


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("suggest")
    pop = mp.synthetic.population(n_types=2, n_annotators=20, comparisons_per_annotator=30, dim=6, n_prompts=6,
                                  responses_per_prompt=5)
    mp.MixtureBT(n_types=2, n_restarts=1).fit(pop.data, pop.features).save(tmp / "model")
    pop.features.save(tmp / "features")
    pool = pop.data.comparisons.rename(columns={"prompt_id": "prompt"}).drop(columns=["label", "annotator"]).head(40)
    pool.to_csv(tmp / "pool.csv", index=False)
    pop.data.responses.to_csv(tmp / "responses.csv", index=False)  # response_id, prompt_id, text
    return tmp, pop


def _app():
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps typer's sub-command form: `suggest ...`
    return app


def test_suggest_for_a_new_annotator_writes_texts(fitted, capsys):
    tmp, pop = fitted
    out = tmp / "next.csv"
    code = run_app(_app(), ["suggest", "--model", str(tmp / "model"), "--pool", str(tmp / "pool.csv"), "--responses",
                            str(tmp / "responses.csv"), "--features", str(tmp / "features"), "--objective", "type",
                            "--annotator", "newbie",
                            "-n", "5", "--out", str(out), "--tracking-uri", "none", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "new annotator with the population prior" in printed and "response" in printed
    table = pd.read_csv(out)
    assert len(table) == 5 and table["new_annotator"].all() and (table["annotator"] == "newbie").all()
    assert table["text_a"].str.startswith("response").all() and list(table["rank"]) == [1, 2, 3, 4, 5]


def test_suggest_prediction_from_a_model_with_posterior_draws(fitted, tmp_path):
    tmp, pop = fitted
    mp.MixtureBT(n_types=2, n_restarts=1, inference="laplace", n_samples=32).fit(pop.data, pop.features).save(
        tmp_path / "model")
    out = tmp_path / "next.csv"
    code = run_app(_app(), ["suggest", "--model", str(tmp_path / "model"), "--pool", str(tmp / "pool.csv"),
                            "--responses", str(tmp / "responses.csv"), "--features", str(tmp / "features"),
                            "--objective", "prediction", "--annotator", pop.data.annotators[0], "-n", "4",
                            "--out", str(out), "--tracking-uri", "none", "--no-progress"])
    assert code == 0
    table = pd.read_csv(out)
    assert len(table) == 4 and (table["score"] >= 0).all() and not table["new_annotator"].any()


@pytest.mark.parametrize("args, message", [
    (["--objective", "reward"], "posterior draws"),
    (["-n", "500"], "n: got 500"),
    (["--objective", "nope"], "objective"),
])
def test_user_mistakes_exit_2_with_one_line(fitted, capsys, args, message):
    tmp, _ = fitted
    code = run_app(_app(), ["suggest", "--model", str(tmp / "model"), "--pool", str(tmp / "pool.csv"), "--responses",
                            "ids", "--features", str(tmp / "features"), "--tracking-uri", "none", *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_pool_response_without_features_is_named(fitted, capsys):
    tmp, _ = fitted
    bad = pd.read_csv(tmp / "pool.csv")
    bad.loc[0, "response_b"] = "ghost"
    bad.to_csv(tmp / "bad.csv", index=False)
    code = run_app(_app(), ["suggest", "--model", str(tmp / "model"), "--pool", str(tmp / "bad.csv"), "--responses",
                            "ids", "--features", str(tmp / "features"), "--tracking-uri", "none"])
    assert code == 2 and "ghost" in capsys.readouterr().err
