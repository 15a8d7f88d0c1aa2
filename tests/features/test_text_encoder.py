import numpy as np
import pytest

import mixpref as mp
from mixpref.features.model_source import resolve_model_path
from mixpref.features.text_encoder import TextEncoder

from ._helpers import stand_in, ukp_texts

TEXTS = [t for t in ukp_texts(40) if len(t) < 460][:20] + ["hello", "", "A short one.", "hello", "Ünïcödé — text with emoji 🙂"]


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder(progress=False).load()


def _cos(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def _direct(texts, pooling="mean", max_length=256):
    """MiniLM straight through transformers: one padded batch, pooled by hand."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model_path("minilm")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    if pooling == "cls":
        return hidden[:, 0].numpy()
    m = batch["attention_mask"].unsqueeze(-1).float()
    return ((hidden * m).sum(1) / m.sum(1)).numpy()


def test_minilm_matches_transformers_and_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    ours = minilm.encode(TEXTS)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert _cos(ours, _direct(TEXTS)).min() >= 0.9999
    st = SentenceTransformer(str(resolve_model_path("minilm")), device="cpu")
    theirs = st.encode(TEXTS, convert_to_numpy=True)
    assert _cos(ours, theirs).min() >= 0.9999


def test_length_sorted_batches_equal_one_by_one(minilm):
    sorted_batches = minilm.encode(TEXTS)
    one_by_one = np.stack([minilm.encode([t])[0] for t in TEXTS])
    minilm.batch_size, minilm.sort_by_length = 5, False  # fixed batches in input order
    try:
        fixed = minilm.encode(TEXTS)
    finally:
        minilm.batch_size, minilm.sort_by_length = "auto", True
    assert np.abs(sorted_batches - one_by_one).max() <= 1e-5
    assert np.abs(fixed - one_by_one).max() <= 1e-5


def test_duplicates_are_encoded_once(minilm):
    emb = minilm.encode(TEXTS)
    assert minilm.n_encoded_ == len(set(TEXTS))
    assert np.array_equal(emb[TEXTS.index("hello")], emb[len(TEXTS) - 2])


def test_cls_pooling_and_no_normalisation():
    enc = TextEncoder(pooling="cls", normalize=False, progress=False)
    np.testing.assert_allclose(enc.encode(TEXTS[:6]), _direct(TEXTS[:6], "cls"), atol=1e-5)


def test_truncation_is_reported_with_counts():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(resolve_model_path("minilm")), local_files_only=True)
    full = np.array([len(ids) for ids in tok(TEXTS)["input_ids"]])
    enc = TextEncoder(max_length=16, progress=False)
    with pytest.warns(UserWarning, match="truncated to max_length=16"):
        emb = enc.encode(TEXTS)
    t = enc.truncation_
    assert t.n_truncated == int((full > 16).sum()) > 0
    assert t.tokens_dropped == int(np.maximum(full - 16, 0).sum())
    assert t.max_dropped == int(full.max() - 16)
    # the truncated embedding is the embedding of the first 16 tokens
    np.testing.assert_allclose(emb[:3], _norm(_direct(TEXTS[:3], max_length=16)), atol=1e-5)


def _norm(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_no_warning_without_truncation(minilm, recwarn):
    minilm.encode(["short text"])
    assert minilm.truncation_.n_truncated == 0
    assert not [w for w in recwarn if "truncated" in str(w.message)]


def test_encode_data_templates(minilm):
    data = stand_in()
    feats = minilm.encode_data(data)
    assert isinstance(feats, mp.Features)
    assert list(feats.ids) == ["r1", "r2", "r3", "r4"]
    expected = minilm.encode(["Should plastic water bottles be banned?\n\nYes, they are bad for the water."])
    np.testing.assert_allclose(feats.embeddings[0], expected[0], atol=1e-6)

    only = TextEncoder(template="response", progress=False).encode_data(data)
    np.testing.assert_allclose(only.embeddings[2], minilm.encode(["It is in a recession."])[0], atol=1e-6)

    custom = TextEncoder(template=lambda p, r: f"Q: {p} A: {r}", progress=False).encode_data(data)
    np.testing.assert_allclose(
        custom.embeddings[3], minilm.encode(["Q: Is the economy good? A: Yes, it is good."])[0], atol=1e-6
    )


def test_conversations_are_rendered(minilm):
    data = stand_in()
    data.prompts = data.prompts.astype(object)
    data.prompts.at[0, "text"] = ({"role": "user", "content": "Should plastic water bottles be banned?"},)
    feats = minilm.encode_data(data)
    expected = minilm.encode(["user: Should plastic water bottles be banned?\n\nYes, they are bad for the water."])
    np.testing.assert_allclose(feats.embeddings[0], expected[0], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, call, match",
    [
        ({}, lambda e: e.encode("one string"), "wrap it in a list"),
        ({}, lambda e: e.encode(["ok", 3]), r"texts\[1\]"),
        ({"pooling": "max"}, lambda e: e.encode(["x"]), "pooling"),
        ({"model": "/no/such/folder"}, lambda e: e.encode(["x"]), "neither 'minilm' nor an existing local folder"),
        ({"max_length": 100000}, lambda e: e.encode(["x"]), "exceeds the model's limit"),
        ({"batch_size": 0}, lambda e: e.encode(["x"]), "batch_size"),
        ({"template": "{prompt} {answer}"}, lambda e: e.encode_data(stand_in()), "template"),
        ({}, lambda e: e.encode_data(object()), "PreferenceData"),
    ],
)
def test_bad_input_raises_data_error(kwargs, call, match):
    with pytest.raises(mp.DataError, match=match):
        call(TextEncoder(progress=False, **kwargs))


def test_decoder_only_model_pools_last_token(tiny_gpt2):
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = ["the cat sat on the mat", "hello", "why would we ban plastic water bottles", "yes"]
    enc = TextEncoder(tiny_gpt2, normalize=False, progress=False)
    ours = enc.encode(texts)
    tok = AutoTokenizer.from_pretrained(str(tiny_gpt2), local_files_only=True)
    model = AutoModel.from_pretrained(str(tiny_gpt2), local_files_only=True).eval()
    with torch.no_grad():
        naive = np.stack([model(torch.tensor([tok(t)["input_ids"]])).last_hidden_state[0, -1].numpy() for t in texts])
    np.testing.assert_allclose(ours, naive, atol=1e-5)


def test_package_import_is_light():
    import subprocess
    import sys

    code = "import sys, mixpref.features, mixpref.features.text_encoder, mixpref.features.sequence_scorer; " \
           "print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
