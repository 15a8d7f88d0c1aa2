"""``torchrun --nproc-per-node 2 -m mixpref fit/embed`` on CPU (gloo): same results as one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixpref as mp

ROOT = Path(__file__).resolve().parents[2]


def _torchrun(args, cwd, nproc=2):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MIXPREF_DIST_TIMEOUT": "120"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                          "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "mixpref", *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchrun_fit_writes_the_one_process_model_folder_and_one_mlflow_run(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from mixpref.cli import main

    pop = mp.synthetic.population(n_types=2, n_annotators=41, comparisons_per_annotator=30, dim=6, n_prompts=8,
                                  responses_per_prompt=6, logit_sd=2.0, random_state=2)
    pop.data.to_frame().to_csv(tmp_path / "data.csv", index=False)
    pop.features.save(tmp_path / "feats")
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    common = ["data.csv", "--annotator", "annotator", "--responses", "ids", "--features", "feats", "--types", "2",
              "--dtype", "float64", "--tracking-uri", uri]
    out = _torchrun(["fit", *common, "--out", "model"], tmp_path)
    assert "on 2 ranks" in out
    # the same command in one process, for the folder to compare with
    monkeypatch.chdir(tmp_path)
    assert main(["fit", *common, "--out", "model1", "--no-progress", "--device", "cpu", "--tracking-uri", "none"]) == 0
    got, one = tmp_path / "model", tmp_path / "model1"
    assert sorted(p.name for p in got.iterdir() if p.name != "tracking") == sorted(p.name for p in one.iterdir())
    loaded = mp.load_model(got)
    ref = mp.MixtureBT(n_types=2, dtype="float64").fit(pop.data, pop.features)
    np.testing.assert_allclose(loaded.coef_, ref.coef_, atol=1e-4)
    rewards, rewards1 = pd.read_csv(got / "rewards.csv"), pd.read_csv(one / "rewards.csv")
    assert list(rewards.columns) == list(rewards1.columns) and len(rewards) == len(pop.data.responses)
    np.testing.assert_allclose(rewards.select_dtypes("number"), rewards1.select_dtypes("number"), atol=1e-4)
    metrics, metrics1 = (json.loads((d / "metrics.json").read_text()) for d in (got, one))
    assert set(metrics1) <= set(metrics)
    assert metrics["world_size"] == 2 and metrics["objective"] == pytest.approx(ref.objective_, rel=1e-5)
    for key in ("train_log_likelihood", "heldout_log_likelihood"):
        assert metrics[key] == pytest.approx(metrics1[key], rel=1e-4), key
    # rank 0 logged one run (rank 1 never touched mlflow)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("fit data.csv")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and len(client.search_experiments()) <= 2  # "fit data.csv" (and mlflow's Default)
    run = runs[0]
    assert run.data.params["world_size"] == "2" and run.data.metrics["objective"] == pytest.approx(ref.objective_)
    assert "rewards.csv" in {a.path for a in client.list_artifacts(run.info.run_id)}


@pytest.mark.slow
def test_torchrun_embed_splits_the_texts_and_matches_one_process(tmp_path):
    rows = [("Should plastic bottles be banned?", f"answer number {i} about bottles", f"reply {i}") for i in range(24)]
    pd.DataFrame(rows, columns=["prompt", "response_a", "response_b"]).assign(label="a").to_csv(
        tmp_path / "data.csv", index=False)
    out = _torchrun(["embed", "data.csv", "--cache-dir", "cache", "--out", "feats"], tmp_path)
    per_rank = json.loads(out.split("encoded per rank: ")[1].strip().replace("'", '"'))
    data = mp.PreferenceData.from_frame(pd.read_csv(tmp_path / "data.csv"))
    assert sum(per_rank) == len(data.responses) and min(per_rank) > 0  # disjoint shares, nothing twice
    feats = mp.Features.load(tmp_path / "feats")
    ref = mp.TextEncoder(progress=False).encode_data(data)
    np.testing.assert_allclose(feats.align(data).embeddings, ref.embeddings, atol=1e-5)
    again = _torchrun(["embed", "data.csv", "--cache-dir", "cache", "--out", "feats2"], tmp_path)
    assert "encoded per rank: [0, 0]" in again  # resumable: a rerun encodes nothing
