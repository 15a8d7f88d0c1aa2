from pathlib import Path

import numpy as np
import pytest

import mixpref as mp

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

SOC = """# TITLE: tiny
# ALTERNATIVE NAME 1: apple
# ALTERNATIVE NAME 2: banana
# ALTERNATIVE NAME 3: cherry
3: 1,2,3
2: 2,3,1
1: 3,1,2
"""


def test_counts_become_one_ranking_per_voter(tmp_path):
    path = tmp_path / "tiny.soc"
    path.write_text(SOC)
    data = mp.read(path)
    assert len(data) == 6 and not data.has_annotators
    assert data.prompts["prompt_id"].tolist() == ["tiny"]
    texts = data.responses.set_index("response_id")["text"]
    assert [texts[r] for r in data.rankings["ranking"].iloc[0]] == ["apple", "banana", "cherry"]
    pairs = data.implied_comparisons().to_frame()
    assert len(pairs) == 6 * 3


@pytest.mark.parametrize(
    "text, match",
    [("1: 1,{2,3}\n", "ties"), ("x: 1,2\n", "count: a,b,c"), ("# ALTERNATIVE NAME 1: a\n1: 1,2\n", "no ALTERNATIVE NAME"),
     ("2: 1,1\n", "twice"), ("# nothing\n", "no orders")],
)
def test_malformed_files_name_the_line(tmp_path, text, match):
    path = tmp_path / "bad.soc"
    path.write_text(text)
    with pytest.raises(mp.DataError, match=match):
        mp.read_preflib(path)


def test_borda_matches_pref_voting_on_real_preflib_files():
    pytest.importorskip("pref_voting")
    from pref_voting.profiles import Profile as PVProfile
    from pref_voting.scoring_methods import borda

    files = sorted((SHARED / "preflib_mturk_dots").glob("*.soc")) + sorted((SHARED / "preflib_breakfast").glob("*.soc"))
    if not files:
        pytest.skip("../shared/data is not beside this checkout")
    for path in files:
        data = mp.read(path)
        arr = data.implied_comparisons().arrays
        m = len(data.responses)
        wins = np.zeros((m, m))
        np.add.at(wins, (arr.a, arr.b), 1.0)
        # one type whose P(i beats j) is the share of voters ranking i above j
        matrix = wins / np.maximum(wins + wins.T, 1)
        np.fill_diagonal(matrix, 0.5)
        ours = mp.aggregate(mp.Profile(matrix[None, None], weights=[1.0]), "borda")
        pv = PVProfile.from_preflib(str(path))  # alternative i is candidate i - 1 there
        ids = data.responses["response_id"].tolist()
        assert {ids[i] for i in np.flatnonzero(ours.probs[0] > 0)} == {str(c + 1) for c in borda(pv)}, path.name
        theirs = pv.borda_scores()
        ours_by_id = dict(zip(ids, ours.scores[0]))
        # same Borda scores (pref_voting counts voters, we average over them)
        np.testing.assert_allclose([ours_by_id[str(c + 1)] * len(data) for c in pv.candidates],
                                   [theirs[c] for c in pv.candidates], err_msg=path.name)
