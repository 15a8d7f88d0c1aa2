"""train_lm on a tiny random causal LM: the margin rises, checkpoints resume, masks are right."""

import json

import numpy as np
import pytest

import mixpref as mp

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _margin(model_dir, ref_dir, pairs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ref_dir)
    out = {}
    for name, d in (("policy", model_dir), ("ref", ref_dir)):
        m = AutoModelForCausalLM.from_pretrained(d)
        c = mp.dpo.sequence_logprobs(m, tok, pairs.prompt.tolist(), pairs.chosen.tolist())
        r = mp.dpo.sequence_logprobs(m, tok, pairs.prompt.tolist(), pairs.rejected.tolist())
        out[name] = c - r
    return float(np.mean(out["policy"] - out["ref"]))


def test_train_lm_raises_the_margin(tiny_lm, text_pairs, tmp_path):
    out = tmp_path / "run"
    result = mp.dpo.train_lm(tiny_lm, text_pairs, loss="sigmoid", beta=0.1, max_steps=30, batch_size=8,
                             grad_accum=2, lr=1e-3, output_dir=out, device="cpu")
    assert result.global_step == 30 and len(result.history) == 30
    # margin measured independently of the trainer, from the saved final model
    assert _margin(tiny_lm, tiny_lm, text_pairs) == pytest.approx(0.0, abs=1e-9)
    after = _margin(out, tiny_lm, text_pairs)
    assert after > 0.5
    assert result.history["loss"].iloc[-5:].mean() < result.history["loss"].iloc[:5].mean()
    # reference log-probs were precomputed once, before training, from the initial model
    ref_c = mp.dpo.sequence_logprobs(transformers.AutoModelForCausalLM.from_pretrained(tiny_lm),
                                     result.tokenizer, text_pairs.prompt.tolist(), text_pairs.chosen.tolist())
    np.testing.assert_allclose(result.reference_logprobs[:, 0], ref_c, rtol=1e-5)


def test_checkpoints_resume_to_the_same_model(tiny_lm, text_pairs, tmp_path):
    kw = dict(loss="ipo_sum", beta=0.5, batch_size=4, grad_accum=2, lr=1e-3, device="cpu", save_every=2)
    straight = mp.dpo.train_lm(tiny_lm, text_pairs, max_steps=6, output_dir=tmp_path / "a", **kw)
    mp.dpo.train_lm(tiny_lm, text_pairs, max_steps=4, output_dir=tmp_path / "b", **kw)
    ckpts = sorted(p.name for p in (tmp_path / "b").glob("checkpoint-*"))
    assert ckpts == ["checkpoint-0000002", "checkpoint-0000004"]
    assert (tmp_path / "b" / ckpts[-1] / "model.safetensors").exists()
    assert json.loads((tmp_path / "b" / ckpts[-1] / "trainer_state.json").read_text())["global_step"] == 4
    resumed = mp.dpo.train_lm(tiny_lm, text_pairs, max_steps=6, output_dir=tmp_path / "b", **kw)
    assert resumed.global_step == 6
    np.testing.assert_allclose(resumed.history["loss"], straight.history["loss"], rtol=1e-4, atol=1e-6)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
    # keep_checkpoints=2 prunes older ones
    assert sorted(p.name for p in (tmp_path / "b").glob("checkpoint-*")) == ["checkpoint-0000004", "checkpoint-0000006"]


def test_response_only_masking(tiny_lm):
    from mixpref.dpo.lm_logprobs import encode

    tok = transformers.AutoTokenizer.from_pretrained(tiny_lm)
    ids, mask = encode(tok, "question cat is it", " good answer", max_length=64)
    n_prompt = len(tok("question cat is it")["input_ids"])
    assert mask == [0] * n_prompt + [1] * (len(ids) - n_prompt)
    assert ids[-1] == tok.eos_token_id
    # the summed log-prob equals a direct computation over response tokens only
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_lm)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits, -1)
    want = sum(float(logp[t - 1, ids[t]]) for t in range(n_prompt, len(ids)))
    got = mp.dpo.sequence_logprobs(model, tok, ["question cat is it"], [" good answer"])
    assert got[0] == pytest.approx(want, rel=1e-5)
    # and does not depend on padding (batched with a longer pair)
    both = mp.dpo.sequence_logprobs(model, tok, ["question cat is it", "a"], [" good answer", " bad dog sun rain yes no"])
    assert both[0] == pytest.approx(want, rel=1e-5)
    # truncation keeps the prompt's end and at least one response token
    ids, mask = encode(tok, "question cat is it " * 20, " good answer", max_length=10)
    assert len(ids) == 10 and sum(mask) >= 1
    # a short response leaves the rest of max_length to the prompt (not just half of it)
    ids, mask = encode(tok, "question cat is it " * 20, " yes", max_length=20)
    assert len(ids) == 20 and sum(mask) == len(tok(" yes", add_special_tokens=False)["input_ids"]) + 1
    # a response longer than max_length keeps one prompt token and the response's start
    ids, mask = encode(tok, "question cat", " good answer" * 20, max_length=12)
    assert len(ids) == 12 and mask == [0] + [1] * 11


@pytest.mark.parametrize("loss,kw", [("unlikelihood", {"unlikelihood": "token"}), ("soft", {}), ("generative", {})])
def test_other_losses_raise_the_margin(tiny_lm, text_pairs, loss, kw):
    result = mp.dpo.train_lm(tiny_lm, text_pairs, loss=loss, beta=0.5, max_steps=10, batch_size=16, lr=2e-3,
                             device="cpu", **kw)
    assert result.history["margin"].iloc[-1] > result.history["margin"].iloc[0]


def test_bad_pairs_raise_data_error(tiny_lm, text_pairs):
    with pytest.raises(mp.DataError, match="'chosen'"):
        mp.dpo.train_lm(tiny_lm, text_pairs.drop(columns="chosen"))
    bad = text_pairs.copy()
    bad.loc[3, "rejected"] = None
    with pytest.raises(mp.DataError, match="row 3"):
        mp.dpo.train_lm(tiny_lm, bad)
    with pytest.raises(mp.DataError, match="loss"):
        mp.dpo.train_lm(tiny_lm, text_pairs, loss="dpo")
    with pytest.raises(FileNotFoundError):
        mp.dpo.train_lm(tiny_lm / "missing", text_pairs)
    # max_length=1 would leave no response token to score (every log-prob silently 0)
    with pytest.raises(mp.DataError, match="max_length"):
        mp.dpo.train_lm(tiny_lm, text_pairs, max_length=1)


def test_reference_dir_must_be_a_local_folder(tiny_lm, text_pairs, tmp_path):
    # a name that is not a folder must fail before from_pretrained could treat it as a Hub id
    with pytest.raises(FileNotFoundError, match="reference_dir"):
        mp.dpo.train_lm(tiny_lm, text_pairs, reference_dir="gpt2", max_steps=1, device="cpu")


def test_resume_refuses_checkpoints_of_another_loss_or_labels(tiny_lm, text_pairs, tmp_path):
    kw = dict(batch_size=8, lr=1e-3, device="cpu", output_dir=tmp_path / "run")
    mp.dpo.train_lm(tiny_lm, text_pairs, loss="sigmoid", max_steps=1, **kw)
    # same pairs, another loss: resuming would mix two trainings in one model
    with pytest.raises(mp.DataError, match="different run"):
        mp.dpo.train_lm(tiny_lm, text_pairs, loss="ipo_sum", max_steps=2, **kw)
    # the same run resumes
    assert mp.dpo.train_lm(tiny_lm, text_pairs, loss="sigmoid", max_steps=2, **kw).global_step == 2
    # same loss, other soft labels
    kw["output_dir"] = tmp_path / "soft"
    mp.dpo.train_lm(tiny_lm, text_pairs, loss="soft", max_steps=1, **kw)
    with pytest.raises(mp.DataError, match="different run"):
        mp.dpo.train_lm(tiny_lm, text_pairs.assign(p_chosen=0.9), loss="soft", max_steps=2, **kw)


def test_train_lm_refuses_non_causal_and_empty_folders_and_counts_truncation(tiny_lm, text_pairs, tmp_path):
    from transformers import BertConfig, BertLMHeadModel

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(mp.DataError, match="no model"):
        mp.dpo.train_lm(empty, text_pairs)
    bert = tmp_path / "bert"
    BertLMHeadModel(BertConfig(vocab_size=400, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=16)).save_pretrained(bert)
    import shutil

    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_lm / f).exists():
            shutil.copy(tiny_lm / f, bert / f)
    with pytest.raises(mp.DataError, match="not a causal LM"):
        mp.dpo.train_lm(bert, text_pairs, max_steps=1)
    with pytest.raises(mp.DataError, match="at most 64"):
        mp.dpo.train_lm(tiny_lm, text_pairs, max_length=1000)
    long = text_pairs.assign(chosen=text_pairs.chosen + " good" * 80)
    with pytest.warns(UserWarning, match="16 of 16 pairs are longer than max_length=64"):
        mp.dpo.train_lm(tiny_lm, long, max_steps=1, batch_size=16)
