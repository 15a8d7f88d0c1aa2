import gzip
import json

import pandas as pd
import pytest

import mixpref as mp

FRAME = pd.DataFrame(
    {
        "prompt": ["p1", "p1", "p2"],
        "response_a": ["x", "y", "u"],
        "response_b": ["y", "z", "v"],
        "label": ["a", "tie", "b"],
        "annotator": ["007", "w2", "007"],
    }
)


@pytest.mark.parametrize("ext", [".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json", ".parquet"])
def test_read_by_extension_round_trips(tmp_path, ext):
    path = tmp_path / f"prefs{ext}"
    if ext.startswith(".csv"):
        FRAME.to_csv(path, index=False)
    elif ext.startswith(".jsonl"):
        FRAME.to_json(path, orient="records", lines=True)
    elif ext == ".json":
        FRAME.to_json(path, orient="records")
    else:
        FRAME.to_parquet(path)
    data = mp.read(path, annotator="annotator")
    pd.testing.assert_frame_equal(data.to_frame(), FRAME, check_dtype=False)
    assert "007" in list(data.annotators)  # ids are not turned into numbers


def test_read_numeric_labels_from_csv(tmp_path):
    path = tmp_path / "n.csv"
    FRAME.assign(label=[1, 0.5, 0]).to_csv(path, index=False)
    assert mp.read(path).arrays.y.tolist() == [1.0, 0.5, 0.0]


def test_read_trl_pairs_and_rankings(tmp_path):
    pairs = tmp_path / "pairs.jsonl.gz"
    with gzip.open(pairs, "wt") as fh:
        for row in [{"prompt": "q", "chosen": "good", "rejected": "bad"}]:
            fh.write(json.dumps(row) + "\n")
    assert mp.read(pairs).to_pairs().loc[0, "chosen"] == "good"
    ranks = tmp_path / "ranks.csv"
    pd.DataFrame({"prompt": ["q"], "ranking": [json.dumps(["a", "b", "c"])]}).to_csv(ranks, index=False)
    assert len(mp.read(ranks).implied_comparisons()) == 3


def test_read_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError):
        mp.read(tmp_path / "missing.csv")
    bad = tmp_path / "x.txt"
    bad.write_text("hi")
    with pytest.raises(mp.DataError, match="extension"):
        mp.read(bad)
    path = tmp_path / "p.csv"
    FRAME.drop(columns="label").to_csv(path, index=False)
    with pytest.raises(mp.DataError, match="'label'"):
        mp.read(path)


def test_read_unknown_column_option_is_named(tmp_path):
    path = tmp_path / "p.csv"
    FRAME.to_csv(path, index=False)
    with pytest.raises(mp.DataError, match="'annotater'"):
        mp.read(path, annotater="annotator")
