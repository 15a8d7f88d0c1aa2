"""to_trl_dataset output trains with TRL's DPOTrainer (one step, tiny model)."""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp


def _trl_or_skip():
    try:
        import trl  # noqa: F401
    except Exception as err:  # any import failure means TRL is unusable here
        pytest.skip(f"trl does not import: {err}")


def test_trl_dataset_columns(text_pairs):
    pytest.importorskip("datasets")
    ds = mp.to_trl_dataset(text_pairs)
    assert ds.column_names == ["prompt", "chosen", "rejected"]
    assert ds[0]["chosen"] == text_pairs.chosen[0]
    conv = mp.to_trl_dataset(text_pairs, conversational=True, keep_columns=True)
    assert conv[0]["prompt"] == [{"role": "user", "content": text_pairs.prompt[0]}]
    assert conv[0]["rejected"] == [{"role": "assistant", "content": text_pairs.rejected[0]}]
    assert conv[3]["p_chosen"] == pytest.approx(text_pairs.p_chosen[3])
    with pytest.raises(mp.DataError, match="'chosen'"):
        mp.to_trl_dataset(text_pairs.drop(columns="chosen"))


def test_dpo_trainer_accepts_to_trl_dataset_one_step(tiny_lm, text_pairs, tmp_path):
    _trl_or_skip()
    import torch
    import trl
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = trl.DPOConfig(output_dir=str(tmp_path / "trl"), max_steps=1, per_device_train_batch_size=4,
                           learning_rate=1e-2, report_to="none", bf16=False, save_strategy="no",
                           logging_steps=1, max_length=64)
    trainer = trl.DPOTrainer(model=model, args=config, train_dataset=mp.to_trl_dataset(text_pairs),
                             processing_class=AutoTokenizer.from_pretrained(tiny_lm))
    out = trainer.train()
    assert out.global_step == 1 and np.isfinite(out.training_loss)
    # the known answer at step 0: the policy is its own reference, so every margin is 0 and the loss log 2
    assert out.training_loss == pytest.approx(np.log(2), abs=1e-4)
    changed = any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert changed
    # every pair prefers "good answer ..." to "bad ...": one step lowers the DPO loss on all of them
    assert trainer.evaluate(mp.to_trl_dataset(text_pairs))["eval_loss"] < np.log(2)


def test_train_with_trl_soft_labels_and_precomputed_reference(tiny_lm, text_pairs, tmp_path):
    _trl_or_skip()
    trainer = mp.dpo.train_with_trl(tiny_lm, text_pairs, output_dir=tmp_path / "t", loss="soft", max_steps=2,
                                    per_device_train_batch_size=8, learning_rate=1e-3, save_strategy="no",
                                    precompute_ref_log_probs=True, max_length=64)
    assert trainer.state.global_step == 2
    assert trainer.args.loss_type == ["sigmoid"] and trainer.args.precompute_ref_log_probs
    # soft targets train exactly (SoftDPOTrainer), not by resampling
    from mixpref.dpo.soft_trainer import SoftDPOTrainer

    assert isinstance(trainer, SoftDPOTrainer) and trainer.mixpref_info["path"] == "exact"
    assert trainer.mixpref_loss == "soft"
    with pytest.raises(mp.DataError, match="train_lm"):
        mp.dpo.train_with_trl(tiny_lm, text_pairs, loss="unlikelihood", train=False, exact=False)


def test_prepare_trl_pairs_carries_soft_labels_and_weights_in_expectation():
    from mixpref.dpo.trl_adapter import prepare_trl_pairs

    n = 4000
    df = pd.DataFrame({"prompt": ["q"] * n, "chosen": ["a", "b"] * (n // 2), "rejected": ["c", "d"] * (n // 2),
                       "p_chosen": [0.8, 0.3] * (n // 2), "weight": [3.0, 1.0] * (n // 2)})
    out = prepare_trl_pairs(df, random_state=1)
    # weight resampling: "a vs c" rows are 3/4 of the data
    from_ac = out["chosen"].isin(["a", "c"])
    assert from_ac.mean() == pytest.approx(0.75, abs=0.03)
    # label resampling: a stays chosen over c with probability 0.8
    assert (out.loc[from_ac, "chosen"] == "a").mean() == pytest.approx(0.8, abs=0.03)
    assert (out.loc[~from_ac, "chosen"] == "b").mean() == pytest.approx(0.3, abs=0.05)


def test_train_with_trl_conversational(tiny_lm, text_pairs, tmp_path):
    _trl_or_skip()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm)
    tok.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant:{% endif %}"
    )
    trainer = mp.dpo.train_with_trl(tiny_lm, text_pairs, tokenizer=tok, conversational=True,
                                    output_dir=tmp_path / "c", max_steps=1, per_device_train_batch_size=4,
                                    learning_rate=1e-3, save_strategy="no", max_length=64)
    assert trainer.state.global_step == 1
    assert trainer.train_dataset.num_rows == len(text_pairs)


def test_train_with_trl_robust_uses_label_smoothing_not_flips(tiny_lm, text_pairs, tmp_path):
    _trl_or_skip()
    pairs = text_pairs.assign(p_chosen=0.8)
    trainer = mp.dpo.train_with_trl(tiny_lm, pairs, output_dir=tmp_path / "r", loss="robust", train=False,
                                    save_strategy="no", max_length=64, exact=False)
    assert trainer.args.loss_type == ["robust"]
    assert trainer.args.label_smoothing == pytest.approx(0.2)
    # labels are kept as given (flipping them too would count the noise twice); TRL appends EOS
    assert all(c.startswith(o) for c, o in zip(trainer.train_dataset["chosen"], pairs["chosen"]))


def test_prepare_trl_pairs_keeps_distinct_pairs_and_redraws_flips_per_epoch():
    from mixpref.dpo.trl_adapter import prepare_trl_pairs

    n = 1020
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"prompt": [f"q{i}" for i in range(n)], "chosen": ["a"] * n, "rejected": ["b"] * n,
                       "p_chosen": 0.5, "weight": rng.uniform(0.5, 1.5, n)})
    out = prepare_trl_pairs(df, random_state=0, epochs=2)
    # weights within a factor 3 of each other: residual resampling keeps every pair with weight >= mean,
    # i.e. far more than the ~642 of 1,020 that drawing with replacement kept
    assert out.attrs["distinct_pairs"] >= 0.75 * n
    first, second = out.iloc[:n], out.iloc[n:]
    assert len(out) == 2 * n and (first["flipped"].to_numpy() != second["flipped"].to_numpy()).any()
    equal = prepare_trl_pairs(df.assign(weight=1.0))
    assert equal.attrs["distinct_pairs"] == n


def test_non_causal_or_empty_folders_are_refused(tmp_path, text_pairs):
    _trl_or_skip()
    from transformers import BertConfig, BertLMHeadModel

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(mp.DataError, match="no model"):
        mp.dpo.train_with_trl(empty, text_pairs, train=False)
    bert = tmp_path / "bert"
    BertLMHeadModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=16)).save_pretrained(bert)
    with pytest.raises(mp.DataError, match="not a causal LM"):
        mp.dpo.train_with_trl(bert, text_pairs, train=False)


def test_max_length_defaults_to_the_model_and_long_pairs_are_counted(tiny_lm, text_pairs, tmp_path):
    _trl_or_skip()
    trainer = mp.dpo.train_with_trl(tiny_lm, text_pairs, output_dir=tmp_path / "m", train=False, save_strategy="no")
    assert trainer.args.max_length == 64  # the fixture's n_positions
    long = text_pairs.assign(chosen=text_pairs.chosen + " good" * 80)
    with pytest.warns(UserWarning, match="16 of 16 pairs are longer than max_length=64"):
        mp.dpo.train_with_trl(tiny_lm, long, output_dir=tmp_path / "l", train=False, save_strategy="no")
    with pytest.raises(mp.DataError, match="at most 64"):
        mp.dpo.train_with_trl(tiny_lm, text_pairs, train=False, max_length=500)
