import numpy as np
import pandas as pd
import pytest

import mixpref as mp


@pytest.fixture
def long_frame():
    return pd.DataFrame(
        {
            "prompt": ["p1", "p1", "p1", "p2", "p2"],
            "response_a": ["x", "y", "x", "u", "v"],
            "response_b": ["y", "z", "z", "v", "u"],
            "label": ["a", "b", "tie", "a", "a"],
            "annotator": ["w1", "w2", "w1", "w3", "w3"],
        }
    )


def test_from_frame_round_trip_preserves_ids_and_labels(long_frame):
    data = mp.PreferenceData.from_frame(long_frame, annotator="annotator")
    out = data.to_frame()
    pd.testing.assert_frame_equal(out, long_frame, check_dtype=False)
    assert len(data) == 5
    assert list(data.annotators) == ["w1", "w2", "w3"]
    assert data.responses.groupby("prompt_id").size().to_dict() == {"p1": 3, "p2": 2}


def test_labels_numeric_boolean_and_text_mean_the_same(long_frame):
    as_text = mp.PreferenceData.from_frame(long_frame)
    numeric = long_frame.assign(label=[1, 0, 0.5, 1.0, True])
    as_numbers = mp.PreferenceData.from_frame(numeric)
    np.testing.assert_array_equal(as_text.arrays.y, as_numbers.arrays.y)
    np.testing.assert_array_equal(as_text.arrays.y, [1, 0, 0.5, 1, 1])


def test_response_ids_with_table_keep_uncompared_responses():
    df = pd.DataFrame({"prompt": ["t", "t"], "response_a": [1, 2], "response_b": [2, 3], "label": ["a", "b"]})
    table = pd.DataFrame({"response_id": [1, 2, 3, 4], "prompt_id": ["t"] * 4, "text": ["one", "two", "three", "four"]})
    data = mp.PreferenceData.from_frame(df, responses=table)
    assert data.responses["response_id"].tolist() == [1, 2, 3, 4]
    assert data.responses.set_index("response_id").loc[4, "text"] == "four"
    assert data.to_frame()["response_a"].tolist() == [1, 2]


def test_text_response_ids_are_content_derived_and_stable(long_frame):
    one = mp.PreferenceData.from_frame(long_frame)
    two = mp.PreferenceData.from_frame(long_frame.iloc[::-1])
    assert set(one.responses["response_id"]) == set(two.responses["response_id"])
    # same text under two prompts: two responses
    df = pd.DataFrame({"prompt": ["p", "q"], "response_a": ["yes", "yes"], "response_b": ["no", "no"], "label": ["a", "a"]})
    assert len(mp.PreferenceData.from_frame(df).responses) == 4


def test_from_pairs_string_and_conversational_round_trip():
    df = pd.DataFrame(
        {
            "prompt": ["Say hi", "Say hi"],
            "chosen": ["Hello!", "Hi."],
            "rejected": ["Go away.", "Hello!"],
            "annotator": ["a", "b"],
        }
    )
    data = mp.PreferenceData.from_pairs(df, annotator="annotator")
    pd.testing.assert_frame_equal(data.to_pairs(), df, check_dtype=False)
    assert (data.arrays.y == 1).all()
    conv = pd.DataFrame(
        {
            "prompt": [[{"role": "user", "content": "Hi?"}]],
            "chosen": [[{"role": "assistant", "content": "Hello"}]],
            "rejected": [[{"role": "assistant", "content": "No"}]],
        }
    )
    cdata = mp.PreferenceData.from_pairs(conv)
    assert cdata.prompts["text"].tolist() == ["user: Hi?"]
    assert cdata.responses["text"].tolist() == ["assistant: Hello", "assistant: No"]
    back = cdata.to_pairs()
    assert back.loc[0, "prompt"] == [{"role": "user", "content": "Hi?"}]
    assert back.loc[0, "chosen"] == [{"role": "assistant", "content": "Hello"}]


def test_from_pairs_implicit_prompt_conversational():
    user = {"role": "user", "content": "Q"}
    df = pd.DataFrame(
        {
            "chosen": [[user, {"role": "assistant", "content": "good"}]],
            "rejected": [[user, {"role": "assistant", "content": "bad"}]],
        }
    )
    data = mp.PreferenceData.from_pairs(df)
    assert data.prompts["text"].tolist() == ["user: Q"]
    assert data.responses["text"].tolist() == ["assistant: good", "assistant: bad"]


def test_rankings_imply_pairs_in_order():
    df = pd.DataFrame({"prompt": ["p", "p"], "ranking": [["a", "b", "c"], ["c", "a"]], "annotator": [1, 2]})
    data = mp.PreferenceData.from_rankings(df, annotator="annotator")
    assert len(data) == 2
    texts = data.responses.set_index("response_id")["text"]
    assert [[texts[r] for r in ranking] for ranking in data.rankings["ranking"]] == [["a", "b", "c"], ["c", "a"]]
    pairs = data.implied_comparisons().to_frame()
    assert list(zip(pairs.response_a, pairs.response_b)) == [("a", "b"), ("a", "c"), ("b", "c"), ("c", "a")]
    assert (pairs.label == "a").all()
    assert pairs.annotator.tolist() == [1, 1, 1, 2]


@pytest.mark.parametrize("by", ["observation", "annotator", "prompt"])
def test_split_disjoint_seeded_and_complete(by):
    data = mp.synthetic.population(n_annotators=40, comparisons_per_annotator=10, dim=4, n_prompts=10).data
    train, test = data.split(test_size=0.25, by=by, random_state=3)
    again_train, _ = data.split(test_size=0.25, by=by, random_state=3)
    assert len(train) + len(test) == len(data)
    np.testing.assert_array_equal(train.arrays.y, again_train.arrays.y)
    key = {"observation": None, "annotator": "annotator", "prompt": "prompt"}[by]
    if key:
        left = set(getattr(train.arrays, key).tolist())
        right = set(getattr(test.arrays, key).tolist())
        assert not left & right
    whole = pd.concat([train.comparisons, test.comparisons]).sort_values(list(data.comparisons.columns))
    ref = data.comparisons.sort_values(list(data.comparisons.columns))
    np.testing.assert_array_equal(whole.to_numpy(), ref.to_numpy())
    # the response table is shared, so features align across the parts
    assert train.responses is data.responses


def test_split_other_seed_differs():
    data = mp.synthetic.population(n_annotators=40, comparisons_per_annotator=10, dim=4).data
    a, _ = data.split(random_state=0)
    b, _ = data.split(random_state=1)
    assert not np.array_equal(a.arrays.a, b.arrays.a)


def test_summary_counts_ties_repeats_and_cycles():
    df = pd.DataFrame(
        {
            "prompt": ["p"] * 6,
            "response_a": ["x", "y", "z", "x", "y", "x"],
            "response_b": ["y", "z", "x", "y", "x", "z"],
            "label": ["a", "a", "a", "a", "b", "tie"],
            "annotator": ["w1", "w1", "w2", "w1", "w1", "w3"],
        }
    )
    s = mp.PreferenceData.from_frame(df, annotator="annotator").summary()
    assert s.n_comparisons == 6 and s.n_ties == 1 and s.n_annotators == 3
    # w1 said x > y three times (once as "y vs x, b"): two repeats, kept
    assert s.repeated_votes == 2
    assert s.cyclic_prompts == ["p"]  # x > y (3-0), y > z, z > x
    assert s.per_annotator["max"] == 4
    assert "majority cycles 1" in str(s)


def test_select_cuts_tables_and_recodes():
    data = mp.synthetic.population(n_annotators=20, comparisons_per_annotator=30, dim=4, n_prompts=6, responses_per_prompt=4).data
    part = data.select(prompts=["p2", "p4"])
    assert part.prompts["prompt_id"].tolist() == ["p2", "p4"]
    assert len(part.responses) == 8
    expected = data.comparisons[data.comparisons.prompt_id.isin(["p2", "p4"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(part.comparisons, expected)
    assert part.arrays.a.max() < 8 and part.arrays.annotator.max() < len(part.annotators)
    few = data.select(annotators=["a1", "a3"])
    assert set(few.comparisons.annotator) == {"a1", "a3"} and list(few.annotators) == ["a1", "a3"]
    with pytest.raises(mp.DataError, match="unknown prompt"):
        data.select(prompts=["nope"])


def test_to_pairs_keeps_strings_beside_conversations():
    # a conversational prompt with string completions (and the other way round) used to come
    # back from to_pairs with None in place of the strings
    user = [{"role": "user", "content": "hi"}]
    df = pd.DataFrame({"prompt": [user], "chosen": ["hello"], "rejected": ["go away"]})
    out = mp.PreferenceData.from_pairs(df).to_pairs()
    assert out.loc[0, "prompt"] == user
    assert (out.loc[0, "chosen"], out.loc[0, "rejected"]) == ("hello", "go away")
    said = [{"role": "assistant", "content": "hello"}]
    df = pd.DataFrame({"prompt": ["hi"], "chosen": [said], "rejected": [[{"role": "assistant", "content": "no"}]]})
    out = mp.PreferenceData.from_pairs(df).to_pairs()
    assert out.loc[0, "prompt"] == "hi" and out.loc[0, "chosen"] == said


def test_select_takes_one_id_and_rejects_unknown_annotators():
    data = mp.synthetic.population(n_annotators=10, comparisons_per_annotator=10, dim=4, n_prompts=5).data
    one = data.select(annotators="a1")  # a string is one id, not its characters
    assert list(one.annotators) == ["a1"] and len(one) == 10
    assert one.prompts["prompt_id"].tolist() == data.prompts["prompt_id"].tolist()
    assert data.select(prompts="p1").prompts["prompt_id"].tolist() == ["p1"]
    with pytest.raises(mp.DataError, match="unknown annotator"):
        data.select(annotators=["a1", "nobody"])


def test_prompt_ids_that_print_the_same_are_rejected():
    # response ids are derived from str(prompt id) and text: prompts 1 and "1" used to give two
    # different responses the same id (features and models would then mix them up)
    df = pd.DataFrame({"prompt": [1, "1"], "response_a": ["x", "x"], "response_b": ["y", "y"], "label": ["a", "b"]})
    with pytest.raises(mp.DataError, match="prompt ids '1', 1"):
        mp.PreferenceData.from_frame(df)


def test_summary_with_some_observations_without_annotator():
    # annotator code -1 (unknown) beside known annotators used to crash np.bincount
    from mixpref.data.preference_data import ComparisonArrays, PreferenceData

    data = mp.synthetic.population(n_annotators=10, comparisons_per_annotator=5, dim=4, n_prompts=5).data
    arr = data.arrays
    ann = arr.annotator.copy()
    ann[:7] = -1
    mixed = PreferenceData(data.prompts, data.responses, data.annotators, ComparisonArrays(arr.prompt, arr.a, arr.b, arr.y, ann))
    s = mixed.summary()
    assert s.n_annotators == 9 and s.per_annotator["min"] == 3 and s.per_annotator["max"] == 5


def test_missing_annotator_ids_are_kept_as_unknown_and_round_trip(long_frame):
    frame = long_frame.assign(annotator=["w1", None, "w1", float("nan"), "w3"])
    data = mp.PreferenceData.from_frame(frame, annotator="annotator")
    assert len(data) == 5 and list(data.annotators) == ["w1", "w3"]
    assert data.arrays.annotator.tolist() == [0, -1, 0, -1, 1]
    again = mp.PreferenceData.from_frame(data.to_frame(), annotator="annotator")
    np.testing.assert_array_equal(again.arrays.annotator, data.arrays.annotator)
    assert data.summary().n_annotators == 2
