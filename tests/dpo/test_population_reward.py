"""PopulationReward: a population and a rule as a TRL reward function."""

import time

import numpy as np
import pytest
from scipy.special import expit

import mixpref as mp

D, K = 6, 3


def population(seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(K, D))
    weights = np.array([0.5, 0.3, 0.2])
    return theta, weights


def hashing_encoder(texts):
    """A deterministic toy embedding: character-class counts (no model)."""
    out = np.zeros((len(texts), D))
    for i, t in enumerate(texts):
        for ch in t:
            out[i, ord(ch) % D] += 1.0
    return out / np.maximum(1, np.linalg.norm(out, axis=1, keepdims=True))


def batch(n_prompts=4, n_completions=5, seed=0):
    rng = np.random.default_rng(seed)
    words = "good bad fine kind rude clear vague yes no maybe".split()
    prompts, completions = [], []
    for p in range(n_prompts):
        for _ in range(n_completions):
            prompts.append(f"question {p}?")
            completions.append(" ".join(rng.choice(words, size=4)))
    return prompts, completions


def direct_win_rates(theta, weights, prompts, completions, worst=False):
    """Win rates from the per-type rewards by hand: mean over the group (itself as a coin flip)."""
    phi = hashing_encoder([f"{p}\n\n{c}" for p, c in zip(prompts, completions)])
    r = theta @ phi.T  # (K, n)
    out = np.zeros(len(prompts))
    for key in dict.fromkeys(prompts):
        m = [i for i, p in enumerate(prompts) if p == key]
        for i in m:
            per_type = np.array([np.mean([expit(r[k, i] - r[k, j]) for j in m]) for k in range(K)])
            out[i] = per_type.min() if worst else weights @ per_type
    return out


@pytest.mark.parametrize("rule,worst", [("pooled", False), ("maximal_lottery", False), ("maxmin", True)])
def test_win_rates_equal_the_direct_computation(rule, worst):
    theta, weights = population()
    prompts, completions = batch()
    f = mp.dpo.PopulationReward(lambda phi: theta @ phi.T, rule=rule, weights=weights, encoder=hashing_encoder)
    got = np.array(f(prompts=prompts, completions=completions, completion_ids=[[1]] * len(prompts)))
    np.testing.assert_allclose(got, direct_win_rates(theta, weights, prompts, completions, worst), atol=1e-6)


def test_lottery_reward_is_the_rules_lottery_per_group():
    theta, weights = population()
    prompts, completions = batch(n_prompts=2, n_completions=4)
    f = mp.dpo.PopulationReward(lambda phi: theta @ phi.T, rule="maximal_lottery", reward="lottery",
                                weights=weights, encoder=hashing_encoder)
    got = np.array(f(prompts, completions))
    phi = hashing_encoder([f"{p}\n\n{c}" for p, c in zip(prompts, completions)])
    r = (theta @ phi.T).reshape(K, 2, 4).transpose(1, 0, 2)
    lottery = mp.aggregate(mp.Profile.from_rewards(r, weights), "maximal_lottery")
    np.testing.assert_allclose(got, lottery.probs.reshape(-1), atol=1e-6)
    np.testing.assert_allclose(got.reshape(2, 4).sum(1), 1.0, atol=1e-9)


def test_conversational_completions_and_a_fitted_models_interface():
    theta, weights = population()

    class Fitted:  # the fitted-model interface: rewards(features) -> (K, n), weights_
        weights_ = weights

        def rewards(self, features):
            return theta @ features.embeddings.T

    prompts, completions = batch(n_prompts=2, n_completions=3)
    f = mp.dpo.PopulationReward(Fitted(), encoder=hashing_encoder)
    conv = f([[{"role": "user", "content": p}] for p in prompts],
             [[{"role": "assistant", "content": c}] for c in completions])
    np.testing.assert_allclose(conv, direct_win_rates(theta, weights, prompts, completions), atol=1e-6)


def test_bad_calls_are_clear_errors():
    theta, weights = population()
    f = mp.dpo.PopulationReward(lambda phi: theta @ phi.T, weights=weights, encoder=hashing_encoder)
    with pytest.raises(mp.DataError, match="got 3 for 2 prompts"):
        f(["a", "b"], ["x", "y", "z"])
    with pytest.raises(mp.DataError, match="completion_ids"):
        f(["a", "a"], ["x", "y"], completion_ids=[[1]])
    with pytest.raises(mp.DataError, match=r"completions\[1\]"):
        f(["a", "a"], ["x", 3])
    with pytest.raises(mp.DataError, match="reward"):
        mp.dpo.PopulationReward(lambda phi: phi, reward="nope")
    g = mp.dpo.PopulationReward(lambda phi: theta[:, :2] @ phi.T, weights=weights, encoder=hashing_encoder)
    with pytest.raises(ValueError):
        g(["a"], ["x"])


@pytest.mark.parametrize("trainer_name", ["GRPO", "RLOO"])
def test_two_step_run_with_the_population_reward(tiny_lm, tmp_path, trainer_name):
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    theta, weights = population()
    f = mp.dpo.PopulationReward(lambda phi: theta @ phi.T, rule="maximal_lottery", weights=weights,
                                encoder=hashing_encoder)
    ds = datasets.Dataset.from_dict({"prompt": [f"question {w} is it" for w in "cat dog sun rain".split()]})
    config = getattr(trl, f"{trainer_name}Config")(str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=4, num_generations=4,
                            max_completion_length=6, learning_rate=1e-4, report_to="none", use_cpu=True,
                            save_strategy="no", logging_steps=1, disable_tqdm=True)
    trainer = getattr(trl, f"{trainer_name}Trainer")(model=AutoModelForCausalLM.from_pretrained(tiny_lm), reward_funcs=[f], args=config,
                              train_dataset=ds, processing_class=AutoTokenizer.from_pretrained(tiny_lm, padding_side="left"))
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [h for h in trainer.state.log_history if f"rewards/{f.__name__}/mean" in h]
    assert logged and all(0.0 < h[f"rewards/{f.__name__}/mean"] < 1.0 for h in logged)


@pytest.mark.slow
def test_minilm_time_per_call_8_prompts_by_8_completions():
    theta = np.random.default_rng(0).normal(size=(K, 384))
    f = mp.dpo.PopulationReward(lambda phi: theta @ phi.T, rule="maximal_lottery", weights=[0.5, 0.3, 0.2])
    f(["warm up"], ["the encoder loads once"])
    prompts, completions = batch(n_prompts=8, n_completions=8, seed=1)
    start = time.perf_counter()
    f(prompts, completions)
    elapsed = time.perf_counter() - start
    print(f"PopulationReward, 8 prompts x 8 completions, MiniLM on CPU: {elapsed:.3f} s per call; {f.timings_}")
    assert elapsed < 30
