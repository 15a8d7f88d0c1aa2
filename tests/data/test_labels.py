"""Labels: the default vocabulary, numeric codes outside it, and label maps."""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp

BASE = pd.DataFrame({"prompt": ["p", "p", "q"], "response_a": ["x", "y", "u"], "response_b": ["y", "z", "v"]})


def _y(labels, **kw):
    return mp.PreferenceData.from_frame(BASE.assign(label=labels), **kw).arrays.y.tolist()


@pytest.mark.parametrize("bad", [0.7, 2, -1, 0.25, 1.5, np.float64(0.9), np.int64(2), "0.7", "2", "yes"])
def test_numeric_labels_other_than_0_half_1_are_refused(bad):
    with pytest.raises(mp.DataError, match=r"column 'label' has unknown label .* rows? \[1\]"):
        _y(["a", bad, "b"])


def test_numeric_labels_other_than_codes_are_refused_when_read_from_a_file(tmp_path):
    for bad in ("0.7", "2"):
        path = tmp_path / "p.csv"
        BASE.assign(label=["a", bad, "b"]).to_csv(path, index=False)
        with pytest.raises(mp.DataError, match=rf"unknown label '{bad}' \(1 row\) in row \[3\].*line 1 being the header"):
            mp.read(path)


def test_default_vocabulary_codes():
    assert _y([1, 0.5, 0]) == [1.0, 0.5, 0.0]
    assert _y(["A", " Tie ", "b"]) == [1.0, 0.5, 0.0]
    assert _y([True, False, np.True_]) == [1.0, 0.0, 1.0]


def test_label_map_words_and_numbers():
    words = {"model_a": "a", "model_b": "b", "tie": "tie"}
    assert _y(["model_a", "tie", "model_b"], label_map=words) == [1.0, 0.5, 0.0]
    assert _y([1, -1, 0], label_map={1: "a", -1: "b", 0: "tie"}) == [1.0, 0.0, 0.5]
    # the map's values may be codes too; a map may also reverse the default meaning
    assert _y(["L", "R", "="], label_map={"L": 1, "R": 0, "=": 0.5}) == [1.0, 0.0, 0.5]
    assert _y([1, 0, 1], label_map={1: "b", 0: "a"}) == [0.0, 1.0, 0.0]


def test_label_map_string_keys_match_numbers_and_case():
    cli_map = {"1": "a", "-1": "b", "0": "tie"}  # what --label-map 1=a,-1=b,0=tie parses to
    assert _y([1, -1, 0], label_map=cli_map) == [1.0, 0.0, 0.5]
    assert _y([1.0, -1.0, 0.0], label_map=cli_map) == [1.0, 0.0, 0.5]
    assert _y(["1", " -1 ", "0.0"], label_map=cli_map) == [1.0, 0.0, 0.5]
    assert _y(["Model_A", "MODEL_B", "model_a"], label_map={"model_a": "a", "model_b": "b"}) == [1.0, 0.0, 1.0]


def test_label_map_is_the_whole_vocabulary_and_names_what_is_missing():
    with pytest.raises(mp.DataError, match=r"label_map does not name: 'tie' \(1 row\) in row \[1\].*'model_a', 'model_b'"):
        _y(["model_a", "tie", "model_b"], label_map={"model_a": "a", "model_b": "b"})


@pytest.mark.parametrize(
    "label_map, match",
    [
        ({}, "non-empty dict"),
        (["a"], "non-empty dict"),
        ({"x": "maybe"}, r"label_map\['x'\] = 'maybe'"),
        ({"x": 0.7}, r"label_map\['x'\] = 0.7"),
        ({1: "a", "1": "b"}, "read the same"),
    ],
)
def test_bad_label_maps_are_refused(label_map, match):
    with pytest.raises(mp.DataError, match=match):
        _y(["x", "x", "x"], label_map=label_map)


def test_unknown_labels_are_listed_counted_and_a_map_is_suggested():
    n = 3_360
    labels = np.array(["model_a", "model_b", "a"] * (n // 3), dtype=object)
    frame = pd.DataFrame({"prompt": "p", "response_a": [f"x{i}" for i in range(n)],
                          "response_b": [f"y{i}" for i in range(n)], "label": labels})
    with pytest.raises(mp.DataError) as err:
        mp.PreferenceData.from_frame(frame)
    message = str(err.value)
    assert "'model_a' (1,120 rows), 'model_b' (1,120 rows)" in message
    assert "rows [0, 1, 3, 4, 6] and 2,235 more" in message  # 2,240 offending rows in all
    assert "label_map=" in message and "--label-map model_a=a,model_b=b" in message
    assert "rows are the frame's index labels" in message


def test_read_passes_label_map_for_every_label_format(tmp_path):
    frame = BASE.assign(label=["model_a", "tie", "model_b"], j=["w", "w", "v"])
    words = {"model_a": "a", "model_b": "b", "tie": "tie"}
    for ext in (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json", ".parquet"):
        path = tmp_path / f"mt{ext}"
        if ".csv" in ext:
            frame.to_csv(path, index=False)
        elif ".jsonl" in ext:
            frame.to_json(path, orient="records", lines=True)
        elif ext == ".json":
            frame.to_json(path, orient="records")
        else:
            frame.to_parquet(path)
        assert mp.read(path, label_map=words, annotator="j").arrays.y.tolist() == [1.0, 0.5, 0.0], ext
    codes = tmp_path / "codes.csv"
    BASE.assign(label=[1, -1, 0]).to_csv(codes, index=False)
    assert mp.read(codes, label_map={"1": "a", "-1": "b", "0": "tie"}).arrays.y.tolist() == [1.0, 0.0, 0.5]
    assert mp.read(codes, label_map={1: "a", -1: "b", 0: "tie"}).arrays.y.tolist() == [1.0, 0.0, 0.5]


def test_label_map_none_is_ignored_and_a_map_for_labelless_formats_is_refused(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pd.DataFrame({"prompt": ["q"], "chosen": ["good"], "rejected": ["bad"]}).to_json(pairs, orient="records", lines=True)
    assert len(mp.read(pairs, label_map=None)) == 1
    with pytest.raises(mp.DataError, match="pairs.jsonl: label_map was given but the file holds pairs"):
        mp.read(pairs, label_map={"x": "a"})


@pytest.mark.parametrize("bad", [0.7, 2.0, -1.0, np.nan])
def test_coded_arrays_outside_the_three_codes_are_refused(bad):
    from mixpref.data.arrays import ComparisonArrays

    data = mp.PreferenceData.from_frame(BASE.assign(label=["a", "b", "tie"]))
    arr = data.arrays
    y = arr.y.copy()
    y[1] = bad
    with pytest.raises(mp.DataError, match=r"codes y hold .* at positions \[1\] \(1 in all\)"):
        mp.PreferenceData(data.prompts, data.responses, data.annotators, ComparisonArrays(arr.prompt, arr.a, arr.b, y, arr.annotator))
