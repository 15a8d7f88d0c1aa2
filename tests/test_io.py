"""The one home of file helpers: atomic writes keep normal permissions and never leave half a file."""

import os
import stat

import numpy as np
import pandas as pd
import pytest

from mixpref._io import atomic_path, json_safe, write_table


def test_atomic_write_gets_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "out.txt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_json_safe_converts_numpy_and_containers():
    assert json_safe({"a": np.float32(0.5), "b": (1, np.int64(2)), "c": np.arange(2)}) == {"a": 0.5, "b": [1, 2],
                                                                                            "c": [0, 1]}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_write_table_round_trips(tmp_path, suffix):
    frame = pd.DataFrame({"response_id": ["a", "b"], "reward": [0.5, -1.0]})
    path = write_table(frame, tmp_path / f"t{suffix}")
    back = {".csv": pd.read_csv, ".jsonl": lambda p: pd.read_json(p, lines=True), ".parquet": pd.read_parquet}[suffix](path)
    pd.testing.assert_frame_equal(back, frame)
