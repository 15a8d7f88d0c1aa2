"""SoftDPOTrainer: TRL's DPOTrainer with mixpref's per-example losses, exact soft labels and weights."""

import numpy as np
import pandas as pd
import pytest

import mixpref as mp

trl = pytest.importorskip("trl")
torch = pytest.importorskip("torch")

WORDS = "cat dog sun rain yes no maybe fine".split()


def pairs(p=None, w=None):
    rows = [{"prompt": f"question {x} is it", "chosen": f" good answer {x}", "rejected": f" bad {x} no"} for x in WORDS]
    df = pd.DataFrame(rows)
    df["p_chosen"] = np.linspace(0.55, 0.95, len(df)) if p is None else p
    df["weight"] = (1.0 + np.arange(len(df)) % 3) if w is None else w
    return df


def make_trainer(tiny_lm, tmp_path, df, mloss="soft", cls=None, **config):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mixpref.dpo.soft_trainer import SoftDPOTrainer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    tok = AutoTokenizer.from_pretrained(tiny_lm)
    cfg = trl.DPOConfig(str(tmp_path / "out"), beta=config.pop("beta", 0.1), per_device_train_batch_size=len(df),
                        report_to="none", use_cpu=True, save_strategy="no", disable_tqdm=True, **config)
    ds = mp.to_trl_dataset(df, keep_columns=True)
    if cls is not None:
        return cls(model, args=cfg, train_dataset=ds, processing_class=tok)
    return SoftDPOTrainer(model, args=cfg, train_dataset=ds, processing_class=tok, loss_type=mloss)


def oracle_logps(model, batch):
    """Summed completion log-probs from a plain forward pass (no TRL code)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    lp = torch.log_softmax(logits.float(), -1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
    seq = (lp * batch["completion_mask"][:, 1:]).sum(-1)
    return seq.chunk(2)


@pytest.mark.parametrize("loss_type,soft", [("sigmoid", False), ("soft", True), ("ipo_sum", False), ("robust", True)])
def test_loss_and_gradients_equal_mp_dpo_loss(tiny_lm, tmp_path, loss_type, soft):
    df = pairs()
    trainer = make_trainer(tiny_lm, tmp_path, df, loss_type)
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model
    model.zero_grad()
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    got = {n: q.grad.clone() for n, q in model.named_parameters() if q.grad is not None}
    model.zero_grad()
    ref_c, ref_r = (t.detach() for t in oracle_logps(trainer.ref_model, batch))
    pc, pr = oracle_logps(model, batch)
    p = batch["p_chosen"] if soft else None
    w = batch["weight"]
    want = (w * mp.dpo.loss(loss_type, pc, pr, ref_c, ref_r, beta=0.1, p=p)).sum() / w.sum()
    want.backward()
    assert float(loss.detach()) == pytest.approx(float(want.detach()), rel=1e-6, abs=1e-5)  # float32 at |loss| ~ 25
    for name, q in model.named_parameters():
        if name in got:
            torch.testing.assert_close(got[name], q.grad, atol=1e-5, rtol=1e-4)


def test_hard_labels_match_trls_own_sigmoid_loss(tiny_lm, tmp_path):
    df = pairs(p=1.0, w=1.0)
    ours = make_trainer(tiny_lm, tmp_path, df, "soft")
    theirs = make_trainer(tiny_lm, tmp_path, df, cls=trl.DPOTrainer)
    b1 = next(iter(ours.get_train_dataloader()))
    b2 = next(iter(theirs.get_train_dataloader()))
    torch.testing.assert_close(b1["input_ids"], b2["input_ids"])
    with torch.no_grad():
        assert float(ours.compute_loss(ours.model, b1)) == pytest.approx(float(theirs.compute_loss(theirs.model, b2)), abs=1e-6)


def test_bad_input_is_a_clear_error(tiny_lm, tmp_path):
    from mixpref.dpo.soft_trainer import check_trl_version

    with pytest.raises(mp.DataError, match="p_chosen"):
        make_trainer(tiny_lm, tmp_path, pairs().drop(columns="p_chosen"), "soft")
    with pytest.raises(mp.DataError, match="TRL 0.9.6"):
        check_trl_version("0.9.6")
    check_trl_version(trl.__version__)  # the installed version is a tested one
    with pytest.raises(mp.DataError, match="loss_type"):
        make_trainer(tiny_lm, tmp_path, pairs(), "sigmoid", loss_type=["ipo"])
    with pytest.raises(mp.DataError, match="loss_type 'nope'"):
        make_trainer(tiny_lm, tmp_path, pairs(), "nope")
    with pytest.raises(mp.DataError, match="'weight', row 0"):
        make_trainer(tiny_lm, tmp_path, pairs(w=-1.0), "soft")


def test_group_robust_moves_type_weights(tiny_lm, tmp_path):
    df = pairs().assign(type=[0, 1] * 4)
    trainer = make_trainer(tiny_lm, tmp_path, df, "group_robust", max_steps=2, learning_rate=1e-3)
    trainer.group.step_size = 5.0
    trainer.train()
    alpha = trainer.group.alpha.numpy()
    assert alpha.shape == (2,) and abs(alpha[0] - 0.5) > 1e-4


@pytest.mark.slow
def test_thirty_steps_raise_the_soft_label_weighted_margin(tiny_lm, tmp_path):
    trainer = make_trainer(tiny_lm, tmp_path, pairs(), "soft", max_steps=30, learning_rate=1e-2, logging_steps=1)
    trainer.train()
    margins = [h["soft_margin"] for h in trainer.state.log_history if "soft_margin" in h]
    assert len(margins) == 30 and margins[0] == pytest.approx(0.0, abs=1e-6)
    assert np.mean(margins[-5:]) > 0.3
