"""Rule helpers at their documented edges (written to kill mutmut survivors; tests/MUTATION.md)."""

import numpy as np

from mixpref.aggregation import rules


def test_argmax_ties_are_within_1e9_relative_to_at_least_one():
    mask = np.ones((1, 3), dtype=bool)
    # |best| < 1: the tolerance is 1e-9 absolute
    assert rules._argmax_lottery(np.array([[0.5, 0.5 - 0.5e-9, 0.5 - 1.5e-9]]), mask).tolist() == [[0.5, 0.5, 0.0]]
    # |best| = 1000: the tolerance is 1e-6
    got = rules._argmax_lottery(np.array([[1000.0, 1000.0 - 0.9e-6, 1000.0 - 1.1e-6]]), mask)
    assert got.tolist() == [[0.5, 0.5, 0.0]]
    # padding never wins, even with the best score
    got = rules._argmax_lottery(np.array([[1.0, 2.0, 5.0]]), np.array([[True, True, False]]))
    assert got.tolist() == [[0.0, 1.0, 0.0]]
