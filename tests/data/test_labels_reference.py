"""Labels: only 0, 0.5 and 1 (and their words and booleans) are accepted, and each parses to its code."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixpref as mp

# the reference: every accepted spelling and the outcome it stands for (1 a won, 0 b won, 0.5 tie)
ACCEPTED = [
    ("a", 1.0), ("A", 1.0), (" a ", 1.0), ("b", 0.0), ("B", 0.0), ("tie", 0.5), ("TIE", 0.5), (" Tie", 0.5),
    (1, 1.0), (0, 0.0), (0.5, 0.5), (1.0, 1.0), (0.0, 0.0), (True, 1.0), (False, 0.0),
    (np.int64(1), 1.0), (np.int64(0), 0.0), (np.float32(0.5), 0.5), (np.float64(1.0), 1.0), (np.bool_(True), 1.0),
]
NAMES = {1.0: "a", 0.0: "b", 0.5: "tie"}
REJECTED = [0.7, 2, -1, 0.49, 0.51, 1.5, -0.5, np.float64(0.25), np.int64(2), 3.0, float("inf"), "0.7", "2", "yes"]


def _frame(labels):
    n = len(labels)
    return pd.DataFrame({"prompt": ["p"] * n, "response_a": [f"x{i}" for i in range(n)],
                         "response_b": [f"y{i}" for i in range(n)], "label": pd.Series(list(labels), dtype=object)})


@pytest.mark.parametrize("bad", REJECTED, ids=repr)
def test_labels_other_than_0_half_1_are_rejected(bad):
    frame = _frame([1, bad, 0])
    with pytest.raises(mp.DataError, match="'label'"):
        mp.PreferenceData.from_frame(frame)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(range(len(ACCEPTED))), min_size=1, max_size=12))
def test_accepted_labels_parse_to_their_outcome(picks):
    labels = [ACCEPTED[i][0] for i in picks]
    expected = [ACCEPTED[i][1] for i in picks]
    data = mp.PreferenceData.from_frame(_frame(labels))
    assert len(data) == len(labels)
    back = data.to_frame()
    assert back["response_a"].tolist() == [f"x{i}" for i in range(len(labels))]
    assert back["label"].tolist() == [NAMES[v] for v in expected]
