"""resample_soft_labels: a flipped pair swaps every paired column and negates the margin."""

import numpy as np
import pandas as pd

import mixpref as mp


def _pairs():
    # p_chosen = 1 never flips and 0 always flips (the draw is uniform on [0, 1)); 0.5 either way
    p = np.array([1.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.5, 0.5])
    n = len(p)
    return pd.DataFrame({
        "prompt": [f"q{i}" for i in range(n)],
        "chosen": [f"good{i}" for i in range(n)], "rejected": [f"bad{i}" for i in range(n)],
        "chosen_id": np.arange(n) * 2, "rejected_id": np.arange(n) * 2 + 1,
        "win_prob_chosen": 0.6 + 0.01 * np.arange(n), "win_prob_rejected": 0.3 - 0.01 * np.arange(n),
        "margin": 1.0 + np.arange(n), "p_chosen": p,
    })


def _expected_row(row, flip):
    """The reference: what a flipped (or kept) pair must look like, written out column by column."""
    if not flip:
        return dict(row)
    out = dict(row)
    for a, b in (("chosen", "rejected"), ("chosen_id", "rejected_id"), ("win_prob_chosen", "win_prob_rejected")):
        out[a], out[b] = row[b], row[a]
    out["margin"] = -row["margin"]
    out["p_chosen"] = 1.0 - row["p_chosen"]
    return out


def test_flipped_pairs_swap_win_probabilities_and_negate_the_margin():
    df = _pairs()
    for seed in range(3):
        out = mp.resample_soft_labels(df, random_state=seed)
        flips = out["flipped"].to_numpy()
        assert flips[[1, 3]].all() and not flips[[0, 2]].any()  # forced by p_chosen = 0 / 1
        for i in range(len(df)):
            expected = _expected_row(df.iloc[i].to_dict(), bool(flips[i]))
            got = out.iloc[i].to_dict()
            for column, value in expected.items():
                assert got[column] == value, (seed, i, column)
        # each row still describes the same comparison: P(chosen wins) and the margin agree in sign
        assert (np.sign(out["margin"]) == np.where(flips, -1, 1)).all()
        np.testing.assert_allclose(out["win_prob_chosen"] + out["win_prob_rejected"],
                                   df["win_prob_chosen"] + df["win_prob_rejected"])
