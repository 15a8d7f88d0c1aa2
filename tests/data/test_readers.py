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


def _mt_csv(path, n=20, bad_rows=()):
    frame = pd.DataFrame({"prompt": [f"q{i % 4}" for i in range(n)], "response_a": [f"x{i}" for i in range(n)],
                          "response_b": [f"y{i}" for i in range(n)], "label": ["a"] * n})
    frame.loc[list(bad_rows), "label"] = "maybe"
    frame.to_csv(path, index=False)
    return frame


def test_error_rows_are_line_numbers_of_the_file_and_counted(tmp_path):
    path = tmp_path / "prefs.csv"
    _mt_csv(path, n=40, bad_rows=[3, 7, 8, 9, 20, 30, 31])
    with pytest.raises(mp.DataError) as err:
        mp.read(path)
    message = str(err.value)
    # frame rows 3, 7, 8, 9, 20 are lines 5, 9, 10, 11, 22 (line 1: the header); 2 more
    assert message.startswith("prefs.csv: ")
    assert "rows [5, 9, 10, 11, 22] and 2 more" in message
    assert "rows are line numbers in prefs.csv, line 1 being the header" in message
    lines = path.read_text().splitlines()
    assert all(lines[n - 1].endswith(",maybe") for n in (5, 9, 10, 11, 22))


def test_line_numbers_follow_blank_lines_and_multiline_fields(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text('prompt,response_a,response_b,label\n\np,"two\nlines",y,a\np,x,y,maybe\n')
    with pytest.raises(mp.DataError, match=r"row \[5\].*line numbers in odd.csv"):
        mp.read(path)
    jsonl = tmp_path / "odd.jsonl"
    jsonl.write_text('{"prompt": "p", "response_a": "x", "response_b": "y", "label": "a"}\n\n'
                     '{"prompt": "p", "response_a": "x", "response_b": "z", "label": 7}\n')
    with pytest.raises(mp.DataError, match=r"unknown label 7 \(1 row\) in row \[3\].*line numbers in odd.jsonl"):
        mp.read(jsonl)


def test_parquet_and_json_rows_are_said_to_be_positions(tmp_path):
    path = tmp_path / "p.parquet"
    FRAME.assign(label=["a", "b", "maybe"]).to_parquet(path)
    with pytest.raises(mp.DataError, match=r"row \[2\].*0-based record positions in p.parquet"):
        mp.read(path)


@pytest.mark.parametrize("ext", [".csv.gz", ".jsonl.gz"])
def test_truncated_gzip_is_a_data_error_naming_the_file(tmp_path, ext):
    path = tmp_path / f"cut{ext}"
    whole = tmp_path / f"whole{ext}"
    big = pd.concat([FRAME] * 200, ignore_index=True)
    if ext.startswith(".csv"):
        big.to_csv(whole, index=False)
    else:
        big.to_json(whole, orient="records", lines=True)
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(mp.DataError, match=rf"cut{ext}: .*truncated"):
        mp.read(path)
    (tmp_path / f"junk{ext}").write_bytes(b"plain text")
    with pytest.raises(mp.DataError, match=rf"junk{ext}: could not be decompressed"):
        mp.read(tmp_path / f"junk{ext}")


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("e.jsonl", "", "e.jsonl is empty"),
        ("e.jsonl", "\n\n", "e.jsonl is empty"),
        ("e.csv", "", "e.csv is empty"),
        ("h.csv", "prompt,response_a,response_b,label\n", "h.csv has a header but no rows"),
    ],
)
def test_empty_files_say_so(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(mp.DataError, match=match):
        mp.read(path)
    gz = tmp_path / (name + ".gz")
    with gzip.open(gz, "wt") as fh:
        fh.write(content)
    with pytest.raises(mp.DataError, match=match.replace(name, name + ".gz")):
        mp.read(gz)
