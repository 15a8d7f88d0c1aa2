"""CLI behaviour: exit codes, label maps, ids mode, progress bars, mlflow logging, smoke runs of studies."""

import gzip
import json

import pandas as pd
import pytest

import mixpref as mp
from mixpref.cli import main

FRAME = pd.DataFrame({"q": ["p1", "p1", "p2", "p2"], "x": ["A", "B", "A", "C"], "y": ["B", "C", "C", "B"],
                      "w": ["left", "right", "draw", "left"]})


def _csv(tmp_path, frame=FRAME, name="d.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


COLS = ["--prompt", "q", "--response-a", "x", "--response-b", "y", "--label", "w"]


def test_commands_are_importable_functions(tmp_path):
    from mixpref.cli.data import summary_command

    summary = summary_command(_csv(tmp_path), data_options={"prompt": "q", "response_a": "x", "response_b": "y",
                                                            "label": "w", "label_map": "left=a,right=b,draw=tie"})
    assert summary.to_dict()["n_comparisons"] == 4


def test_label_map_option_and_its_mistakes(tmp_path, capsys):
    path = _csv(tmp_path)
    assert main(["data", "summary", path, *COLS, "--label-map", "left=a,right=b", "--label-map", "draw=tie", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_comparisons"] == 4
    assert main(["data", "summary", path, *COLS, "--label-map", "left=a,right=maybe"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--label-map" in err[0] and "'maybe'" in err[0]
    assert main(["data", "summary", path, *COLS, "--label-map", "left=a,right=b"]) == 2  # 'draw' is unknown
    assert "'draw'" in capsys.readouterr().err


def test_internal_bug_exits_1_with_a_hint_not_2(tmp_path, capsys, monkeypatch):
    import mixpref.cli.data as data_cli

    def broken(*args, **kwargs):
        return {}["no such key"]

    monkeypatch.setattr(data_cli, "load_data", broken)
    assert main(["data", "summary", _csv(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "internal error: KeyError" in err and "bug in mixpref" in err and "MIXPREF_DEBUG" in err
    monkeypatch.setattr(data_cli, "load_data", lambda *a, **k: int("x"))  # a bare ValueError is a bug too
    assert main(["data", "summary", _csv(tmp_path)]) == 1
    assert "internal error: ValueError" in capsys.readouterr().err
    # a user's mistake stays exit 2, one line
    monkeypatch.undo()
    assert main(["data", "summary", str(tmp_path / "missing.csv")]) == 2
    assert main(["fit", _csv(tmp_path), *COLS, "--label-map", "left=a,right=b,draw=tie", "--item-level",
                 "--ks", "x", "--out", str(tmp_path / "m")]) == 2
    assert main(["fit", _csv(tmp_path), *COLS, "--label-map", "left=a,right=b,draw=tie", "--item-level",
                 "--embed", "minilm", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and "--ks" in err and "one of --features, --embed or --item-level" in err


def test_truncated_gzip_is_one_line_exit_2(tmp_path, capsys):
    for name, text in (("d.csv.gz", FRAME.to_csv(index=False)), ("d.jsonl.gz", FRAME.to_json(orient="records", lines=True))):
        blob = gzip.compress(text.encode() * 50)
        path = tmp_path / name
        path.write_bytes(blob[: len(blob) // 2])
        assert main(["data", "summary", str(path), *COLS]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("mixpref: error:")


def test_ids_mode_with_a_responses_table(tmp_path):
    frame = pd.DataFrame({"prompt": ["p", "p", "p"], "response_a": ["r1", "r2", "r1"], "response_b": ["r2", "r3", "r3"],
                          "label": ["a", "a", "b"]})
    table = pd.DataFrame({"response_id": ["r1", "r2", "r3"], "text": ["first answer", "second answer", "third answer"],
                          "prompt_id": ["p", "p", "p"]})
    table.to_csv(tmp_path / "responses.csv", index=False)
    from mixpref.cli.options import load_data

    data = load_data(_csv(tmp_path, frame), {"responses": str(tmp_path / "responses.csv")})
    assert dict(zip(data.responses.response_id, data.responses.text)) == dict(zip(table.response_id, table.text))
    ids = load_data(_csv(tmp_path, frame), {"responses": "ids"})
    assert sorted(ids.responses.response_id) == ["r1", "r2", "r3"]


def test_no_progress_silences_every_tqdm_bar_and_restores():
    from tqdm.auto import tqdm

    from mixpref.cli.options import progress_bars

    from transformers.utils import logging as hf_logging

    with progress_bars(False):
        assert tqdm(total=3).disable and tqdm(total=3, disable=False).disable
        assert hf_logging.tqdm(total=3).disable  # transformers' bars (model loading)
    with open("/dev/null", "w") as sink:
        assert not tqdm(total=3, file=sink, disable=False).disable


def _survey(tmp_path):
    rows = [{"a": i, "b": j, "w": "a" if i < j else "b", "who": f"s{s}"}
            for s in range(6) for i in range(4) for j in range(4) if i != j]
    return _csv(tmp_path, pd.DataFrame(rows), "survey.csv")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_select_logs_heldout_per_k_as_steps(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path = _survey(tmp_path)
    args = ["--prompt", "none", "--response-a", "a", "--response-b", "b", "--label", "w", "--annotator", "who"]
    assert main(["select", path, *args, "--item-level", "--ks", "1-2", "--restarts", "1", "--device", "cpu",
                 "--no-progress", "--tracking-uri", uri]) == 0
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("select survey.csv")
    run = client.search_runs([experiment.experiment_id])[0]
    assert run.info.run_name == "select survey.csv"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "heldout_ll")]
    assert sorted(steps) == [1, 2]
    assert "chosen_k" in run.data.metrics and "criterion" not in run.data.metrics


def test_study_small_run_goes_elsewhere_and_is_marked(tmp_path, monkeypatch):
    from mixpref import studies_registry

    script = tmp_path / "toy.py"
    script.write_text(
        "import argparse, pathlib\n"
        "def main(argv):\n"
        "    p = argparse.ArgumentParser(); p.add_argument('--small', action='store_true'); p.add_argument('--out')\n"
        "    a = p.parse_args(argv); out = pathlib.Path(a.out); out.mkdir(parents=True, exist_ok=True)\n"
        "    (out / 'report.md').write_text('# Toy\\n\\nnumbers\\n')\n"
    )
    monkeypatch.setitem(studies_registry.STUDIES, "toy", (str(script), "a toy study"))
    monkeypatch.chdir(tmp_path)
    assert main(["study", "run", "toy", "--small"]) == 0
    report = (tmp_path / "mixpref-runs" / "studies-small" / "toy" / "report.md").read_text()
    assert report.startswith("# Toy") and "Smoke run" in report.splitlines()[2]
    assert main(["study", "run", "ukp_models", "--small"]) == 2


def test_write_table_and_lottery_round_trip(tmp_path):
    import numpy as np

    from mixpref._io import write_table
    from mixpref.aggregation.lottery_io import read_lottery, write_lottery

    with pytest.raises(mp.DataError, match="suffix"):
        write_table(FRAME, tmp_path / "x.txt")
    prof = mp.Profile.from_rewards(np.array([[[2.0, 1.0, 0.0]]]), [1.0], candidates=[["r1", "r2", "r3"]])
    lottery = mp.aggregate(prof, "pooled", temperature=1.0)
    path = write_lottery(lottery, tmp_path / "l.csv", texts={"r1": "best\nanswer", "r2": "x" * 500, "r3": "c"})
    frame = pd.read_csv(path)
    assert frame["text"].tolist()[0] == "best answer" and len(frame["text"].iloc[1]) <= 200
    back = read_lottery(path)
    np.testing.assert_allclose(back.probs, lottery.probs)
    assert back.rule == "pooled" and back.texts[0, 0] == "best answer"
    bad = frame.assign(prob=[0.5, 0.5, 0.5])
    with pytest.raises(mp.DataError, match="sum to 1.5"):
        read_lottery(bad)


def test_inference_options_come_from_the_model_constructor(tmp_path):
    from mixpref.models.options import inference_options

    path = _survey(tmp_path)
    args = ["--response-a", "a", "--response-b", "b", "--label", "w", "--item-level", "--model", "bt", "--device", "cpu",
            "--no-progress", "--tracking-uri", "none", "--heldout", "0"]
    assert main(["fit", path, *args, "--optimizer", "adam", "--max-steps", "7", "--lr", "0.1",
                 "--out", str(tmp_path / "m")]) == 0
    model = mp.load_model(tmp_path / "m")
    assert (model.optimizer, model.max_steps, model.lr) == ("adam", 7, 0.1)
    from typer.testing import CliRunner

    from mixpref.cli import app

    text = CliRunner().invoke(app, ["fit", "--help"], terminal_width=200).output
    for opt in inference_options():
        if opt.name not in ("device", "random_state", "progress", "n_restarts", "inference"):
            assert "--" + opt.name.replace("_", "-") in text, opt.name
