"""The closed loop on a causal LM: sample completions, score them with a population, train.

Each round samples ``n_samples`` completions per prompt from the current model, scores
each prompt's group with a :class:`~mixpref.dpo.PopulationReward` (win rate against the
policy's own samples: self-play), tilts the policy towards ``q ∝ π_t exp(η (w − ½))`` over
the group, turns ``q`` into soft-label pairs at the trainer's β relative to π_t
(``mp.to_dpo_pairs(..., beta=, reference=)``), and trains with :func:`mixpref.dpo.train_lm`
(``loss="soft"``, the current model as reference) into the next round's folder.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError


def _generate(model, tokenizer, prompts, n_samples, max_new_tokens, seed):
    import torch

    torch.manual_seed(seed)
    out = []
    tokenizer.padding_side = "left"
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True)
    with torch.no_grad():
        ids = model.generate(**enc, do_sample=True, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                             num_return_sequences=n_samples, pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    for i, p in enumerate(prompts):
        out.extend((p, t) for t in texts[i * n_samples:(i + 1) * n_samples])
    return out


def type_win_rates_lm(reward, prompts, a, b):
    """(K,) each type's mean win probability of completions ``a`` over ``b`` of the same prompt."""
    from scipy.special import expit

    render = lambda p, c: reward.template.format(prompt=p, response=c)
    phi_a = reward._encode([render(p, c) for p, c in zip(prompts, a)])
    phi_b = reward._encode([render(p, c) for p, c in zip(prompts, b)])
    ra, _ = reward._type_rewards(phi_a, list(prompts), list(a))
    rb, _ = reward._type_rewards(phi_b, list(prompts), list(b))
    return expit(ra - rb).mean(axis=1)


def iterate_lm(model_dir, prompts, reward, output_dir, rounds=2, n_samples=4, eta=1.0, beta=0.1, steps_per_round=5,
               lr=1e-3, max_new_tokens=8, random_state=0):
    """Self-play rounds on a local causal LM scored by a population.

    Parameters
    ----------
    model_dir : str or path
        The starting causal-LM folder (π_0, the first reference).
    prompts : list of str
    reward : PopulationReward
        With ``reward="win_rate"``.
    output_dir : str or path
        ``round-001/``, ``round-002/``, ... hold each round's model.
    rounds, n_samples : int
    eta, beta : float
    steps_per_round : int
        ``train_lm`` optimizer steps per round.
    lr : float
    max_new_tokens : int
    random_state : int

    Returns
    -------
    pandas.DataFrame
        One row per round: ``round``, ``completions`` (distinct), ``reward_spread`` (standard
        deviation of the win rates within the round), ``pairs``, ``loss_last``,
        ``type{k}_vs_start`` (type k's win probability of a fresh sample of the trained model
        over a sample of π_0) and ``pooled_vs_start`` (their type-weighted mean).

    Examples
    --------
    >>> # history = mp.dpo.iterate_lm("tiny-lm", ["q1", "q2"], mp.dpo.PopulationReward(model), "runs/loop")
    """
    import mixpref as mp
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .lm_logprobs import sequence_logprobs
    from .lm_trainer import train_lm

    if getattr(reward, "reward", "win_rate") != "win_rate":
        raise DataError("reward: iterate_lm needs a PopulationReward with reward='win_rate' (self-play)")
    prompts = list(prompts)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise DataError("prompts: expected a non-empty list of str")
    output_dir = Path(output_dir)
    current = Path(model_dir)
    tok = AutoTokenizer.from_pretrained(current, local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    start_model = AutoModelForCausalLM.from_pretrained(current, local_files_only=True).eval()
    start = _generate(start_model, tok, prompts, n_samples, max_new_tokens, random_state + 10_000)
    rows = []
    for t in range(1, int(rounds) + 1):
        model = AutoModelForCausalLM.from_pretrained(current, local_files_only=True).eval()
        sample = _generate(model, tok, prompts, n_samples, max_new_tokens, random_state + t)
        frame = pd.DataFrame(sample, columns=["prompt", "response"]).drop_duplicates().reset_index(drop=True)
        frame = frame[frame["response"].str.len() > 0].reset_index(drop=True)
        w = np.asarray(reward(frame["prompt"].tolist(), frame["response"].tolist()))
        logp = sequence_logprobs(model, tok, frame["prompt"].tolist(), frame["response"].tolist())
        frame["prompt_id"] = frame["prompt"]
        frame["response_id"] = np.arange(len(frame))
        # target over each group: the policy tilted by the win rates (SPPO's step)
        frame["logq"] = logp + eta * (w - 0.5)
        frame["q"] = np.exp(frame["logq"] - frame.groupby("prompt_id")["logq"].transform("max"))
        frame["q"] /= frame.groupby("prompt_id")["q"].transform("sum")
        lottery = _lottery(frame)
        reference = pd.DataFrame({"prompt_id": frame["prompt_id"], "response_id": frame["response_id"], "logprob": logp})
        with warnings.catch_warnings():
            # the target has no pooled matrix, so win_prob_* columns are left out: expected here
            warnings.simplefilter("ignore", UserWarning)
            pairs = mp.to_dpo_pairs(lottery, frame, strategy="all_pairs", beta=beta, reference=reference)
        row = {"round": t, "completions": len(frame), "reward_spread": float(np.std(w)), "pairs": len(pairs)}
        nxt = output_dir / f"round-{t:03d}"
        if len(pairs):
            result = train_lm(current, pairs, loss="soft", beta=beta, max_steps=steps_per_round, batch_size=len(pairs),
                              lr=lr, output_dir=nxt, random_state=random_state + t, keep_checkpoints=1)
            row["loss_last"] = float(result.history.loss.iloc[-1])
            current = nxt
            model = result.model.eval()
        fresh = _generate(model, tok, prompts, n_samples, max_new_tokens, random_state + 10_000)
        rates = type_win_rates_lm(reward, [p for p, _ in fresh], [c for _, c in fresh], [c for _, c in start])
        row.update({f"type{k}_vs_start": float(r) for k, r in enumerate(rates)})
        weights = np.asarray(reward._type_rewards(reward._encode(["x"]), ["x"], ["x"])[1])
        row["pooled_vs_start"] = float(weights @ rates)
        rows.append(row)
    return pd.DataFrame(rows)


def _lottery(frame):
    import mixpref as mp

    groups = [g for _, g in frame.groupby("prompt_id", sort=False)]
    width = max(len(g) for g in groups)
    probs = np.zeros((len(groups), width))
    cand = np.full((len(groups), width), None, dtype=object)
    mask = np.zeros((len(groups), width), dtype=bool)
    for i, g in enumerate(groups):
        probs[i, : len(g)] = g["q"].to_numpy()
        cand[i, : len(g)] = g["response_id"].to_numpy()
        mask[i, : len(g)] = True
    prompts = pd.Index([g["prompt_id"].iloc[0] for g in groups])
    return mp.Lottery(probs, probs, "selfplay", prompts=prompts, candidates=cand, mask=mask)
