import numpy as np
import pandas as pd

import mixpref as mp
from mixpref.features.embed_file import embed_data

from ._helpers import stand_in

FRAME = pd.DataFrame(
    {
        "question": ["why would we ban bottles", "why would we ban bottles", "hello"],
        "first": ["yes it is bad", "no", "hello world"],
        "second": ["no", "the cat sat", "the cat"],
        "winner": ["a", "b", "tie"],
    }
)


def test_embed_data_core(tiny_gpt2, tmp_path):
    data = stand_in()
    feats = embed_data(data, tmp_path / "out", model=tiny_gpt2, logprob_model=tiny_gpt2, progress=False)
    loaded = mp.Features.load(tmp_path / "out")
    assert list(loaded.ids) == ["r1", "r2", "r3", "r4"]
    np.testing.assert_allclose(loaded.embeddings, feats.embeddings)
    np.testing.assert_allclose(loaded.logp_ref, feats.logp_ref)
    assert (loaded.logp_ref < 0).all()


def test_mixpref_embed_command(tiny_gpt2, tmp_path):
    from typer.testing import CliRunner

    from mixpref.cli import app

    path = tmp_path / "prefs.csv"
    FRAME.to_csv(path, index=False)
    out = tmp_path / "features"
    args = [
        "embed", str(path), "--prompt", "question", "--response-a", "first", "--response-b", "second",
        "--label", "winner", "--model", str(tiny_gpt2), "--out", str(out), "--logprob-model", str(tiny_gpt2),
        "--cache-dir", str(tmp_path / "cache"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 5 response embeddings (dim 32) with logp_ref" in result.output
    data = mp.read(path, prompt="question", response_a="first", response_b="second", label="winner")
    feats = mp.Features.load(out).align(data)
    assert len(feats) == len(data.responses) == 5


def test_mixpref_embed_user_error_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from mixpref.cli import app

    path = tmp_path / "prefs.csv"
    FRAME.to_csv(path, index=False)
    args = ["embed", str(path), "--prompt", "question", "--response-a", "first", "--response-b", "second",
            "--label", "winner", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "mixpref: error: model:" in result.output
