import numpy as np
import pytest

import mixpref as mp
from mixpref.features.sequence_scorer import SequenceScorer

from ._helpers import ForwardCounter, stand_in

PROMPTS = [
    "why would we ban plastic water bottles because people buy a million of them in a recession",  # longer
    "hello",
    "the cat",
    "please explain",
    "is it good",
]
RESPONSES = [
    "no",  # a prompt much longer than its response
    "hello world the cat sat on the mat because it is good",
    "sat on the mat",
    "the economy is bad because people buy more water",
    "yes",
]


def naive(folder, prompts, responses, chat=False):
    """One example at a time, no padding: sum of log-softmax at the response positions."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).eval()
    sums, counts = [], []
    for prompt, response in zip(prompts, responses):
        if chat:
            messages = list(prompt)
            head = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            full = tok.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=False)
            p = tok(head, add_special_tokens=False)["input_ids"]
            r = tok(full[len(head):], add_special_tokens=False)["input_ids"]
        else:
            p = tok(prompt)["input_ids"]
            r = tok(response, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([p + r])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0].double(), -1)
        sums.append(sum(float(logp[len(p) + j - 1, t]) for j, t in enumerate(r)))
        counts.append(len(r))
    return np.array(sums), np.array(counts)


@pytest.mark.parametrize("which", ["tiny_gpt2", "tiny_llama"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_logprob_equals_naive_loop(which, side, request):
    folder = request.getfixturevalue(which)
    expected, counts = naive(folder, PROMPTS, RESPONSES)
    lp = SequenceScorer(folder, batch_size=3, padding_side=side, progress=False).logprob(PROMPTS, RESPONSES)
    np.testing.assert_allclose(lp.sum, expected, atol=1e-4)
    np.testing.assert_array_equal(lp.n_tokens, counts)
    np.testing.assert_allclose(lp.mean, expected / counts, atol=1e-4)
    assert (lp.sum < 0).all()


def test_auto_batches_equal_single_batches(tiny_llama):
    a = SequenceScorer(tiny_llama, progress=False).logprob(PROMPTS, RESPONSES)
    b = SequenceScorer(tiny_llama, batch_size=1, progress=False).logprob(PROMPTS, RESPONSES)
    np.testing.assert_allclose(a.sum, b.sum, atol=1e-4)


def test_chat_template_for_message_prompts(tiny_llama):
    prompts = [[{"role": "user", "content": p}] for p in PROMPTS]
    expected, counts = naive(tiny_llama, prompts, RESPONSES, chat=True)
    lp = SequenceScorer(tiny_llama, batch_size=2, padding_side="left", progress=False).logprob(prompts, RESPONSES)
    np.testing.assert_allclose(lp.sum, expected, atol=1e-4)
    np.testing.assert_array_equal(lp.n_tokens, counts)
    # the response tokens include the end-of-turn marker the template adds
    assert (lp.n_tokens == np.array([len(r.split()) for r in RESPONSES]) + 1).all()
    # a string prompt does not use the template under "auto", does under True
    plain = SequenceScorer(tiny_llama, progress=False).logprob(PROMPTS[:1], RESPONSES[:1])
    forced = SequenceScorer(tiny_llama, chat_template=True, progress=False).logprob(PROMPTS[:1], RESPONSES[:1])
    np.testing.assert_allclose(forced.sum, expected[:1], atol=1e-4)
    assert not np.allclose(plain.sum, forced.sum)


def test_truncation_keeps_the_response_and_is_reported(tiny_gpt2):
    scorer = SequenceScorer(tiny_gpt2, max_length=6, progress=False)
    with pytest.warns(UserWarning, match="truncated to max_length=6"):
        lp = scorer.logprob(PROMPTS, RESPONSES)
    assert scorer.truncation_.n_truncated == 3
    # the first pair keeps its one response token and the last 5 prompt tokens
    expected, _ = naive(tiny_gpt2, [" ".join(PROMPTS[0].split()[-5:])], RESPONSES[:1])
    np.testing.assert_allclose(lp.sum[0], expected[0], atol=1e-4)


def test_score_data_fills_logp_ref(tiny_gpt2, tmp_path):
    data = stand_in()
    feats = mp.Features(["r4", "r3", "r2", "r1"], np.eye(4))
    scorer = SequenceScorer(tiny_gpt2, progress=False)
    scored = scorer.score_data(data, features=feats)
    assert list(scored.ids) == ["r1", "r2", "r3", "r4"]
    prompts = [data.prompts.set_index("prompt_id").loc[p, "text"] for p in data.responses["prompt_id"]]
    expected, counts = naive(tiny_gpt2, prompts, data.responses["text"].tolist())
    np.testing.assert_allclose(scored.logp_ref, expected, atol=1e-4)
    np.testing.assert_array_equal(scored.embeddings, np.eye(4)[::-1])
    mean = scorer.score_data(data, features=feats, reduction="mean")
    np.testing.assert_allclose(mean.logp_ref, expected / counts, atol=1e-4)
    from mixpref.features.text_encoder import TextEncoder

    computed = scorer.score_data(data, encoder=TextEncoder(tiny_gpt2, progress=False))
    assert computed.dim == 32 and computed.logp_ref is not None


def test_cached_scores_need_no_forward_pass(tiny_gpt2, tmp_path):
    scorer = SequenceScorer(tiny_gpt2, cache_dir=tmp_path, progress=False).load()
    counter = ForwardCounter(scorer.model_)
    first = scorer.logprob(PROMPTS, RESPONSES)
    calls = counter.calls
    assert calls > 0
    second = scorer.logprob(PROMPTS[::-1], RESPONSES[::-1])
    assert counter.calls == calls
    np.testing.assert_array_equal(second.sum, first.sum[::-1])
    np.testing.assert_array_equal(second.n_tokens, first.n_tokens[::-1])


@pytest.mark.parametrize(
    "kwargs, prompts, responses, match",
    [
        ({}, ["a"], ["b", "c"], "1 prompts for 2 responses"),
        ({}, "hello", ["x"], "one string"),
        ({}, ["hello"], [""], r"responses\[0\].*no tokens"),
        ({}, ["hello"], [3], r"responses\[0\]"),
        ({"padding_side": "middle"}, ["hello"], ["world"], "padding_side"),
        ({"chat_template": True}, ["hello"], ["world"], "no chat template"),
    ],
)
def test_bad_input_raises_data_error(tiny_gpt2, kwargs, prompts, responses, match):
    with pytest.raises(mp.DataError, match=match):
        SequenceScorer(tiny_gpt2, progress=False, **kwargs).logprob(prompts, responses)
