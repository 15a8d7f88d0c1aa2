import mixpref as mp


def test_ukpconvarg1_counts():
    data = mp.datasets.load("ukpconvarg1")
    s = data.summary()
    assert (s.n_comparisons, s.n_annotators, s.n_ties) == (84445, 3815, 19105)
    assert (s.n_prompts, s.n_responses) == (32, 1052)
    assert data.responses["text"].str.len().min() > 0
    assert "CC BY 4.0" in mp.datasets.source("ukpconvarg1")


def test_hh_rlhf_pairs_reconstruct_the_dialogues():
    import pandas as pd

    data = mp.datasets.load("hh_rlhf_harmless_base")
    pairs = data.to_pairs()
    raw = pd.read_json(mp.datasets.data_root() / "hh_rlhf_harmless_base" / "test.jsonl.gz", lines=True)
    assert len(pairs) == 2312 and not data.has_annotators
    assert ((pairs.prompt + pairs.chosen) == raw.chosen).all()
    assert ((pairs.prompt + pairs.rejected) == raw.rejected).all()


def test_list_and_unknown_name():
    import pytest

    assert mp.datasets.list() == ["hh_rlhf_harmless_base", "ukpconvarg1"]
    with pytest.raises(mp.DataError, match="unknown dataset"):
        mp.datasets.load("nope")
