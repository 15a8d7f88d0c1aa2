"""The closed loop: mp.dpo.iterate (tabular), mp.dpo.iterate_lm (tiny LM), studies/iterative.py --small."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import mixpref as mp

REPO = Path(__file__).resolve().parents[2]


def cycle_population(n_prompts, seed=0):
    """The 3-type Condorcet cycle of the aggregation study (weights 0.40/0.35/0.25)."""
    rng = np.random.default_rng(seed)
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 2.0]])
    return mp.Profile.from_rewards(3.0 * (scores[None] + 0.05 * rng.standard_normal((n_prompts, 3, 3))),
                                   weights=[0.40, 0.35, 0.25])


def test_selfplay_average_approaches_the_maximal_lottery_pooled_does_not():
    profile = cycle_population(3)
    ml = mp.aggregate(profile, "maximal_lottery").probs
    selfplay = mp.dpo.iterate(profile, rounds=120, eta=1.0, n_samples=16, random_state=1)
    assert np.allclose(selfplay.maximal_lottery, ml)
    h = selfplay.history
    assert h.tv_avg_to_maximal_lottery.iloc[-1] < 0.1
    assert h.exploitability_avg.iloc[-1] < h.exploitability_avg.iloc[4]
    # the history's distance is the distance of the returned average, computed here directly
    assert h.tv_avg_to_maximal_lottery.iloc[-1] == pytest.approx(np.mean(0.5 * np.abs(selfplay.average - ml).sum(1)))
    pooled = mp.dpo.iterate(profile, rounds=40, mode="rule", rule="pooled", random_state=1)
    assert pooled.history.tv_avg_to_maximal_lottery.iloc[-1] >= 0.2


@pytest.mark.slow
def test_acceptance_selfplay_within_005_of_the_maximal_lottery_after_300_rounds():
    profile = cycle_population(20)
    selfplay = mp.dpo.iterate(profile, rounds=300, eta=1.0, n_samples=16, random_state=0)
    assert selfplay.history.tv_avg_to_maximal_lottery.iloc[-1] <= 0.05
    pooled = mp.dpo.iterate(profile, rounds=300, mode="rule", rule="pooled", random_state=0)
    assert pooled.history.tv_avg_to_maximal_lottery.iloc[-1] >= 0.2


def test_asked_scorer_and_rules_run_and_bad_input():
    profile = cycle_population(2)
    asked = mp.dpo.iterate(profile, rounds=5, scorer="ask", n_votes=10)
    assert len(asked.history) == 5 and asked.policies.shape == (6, 2, 3)
    np.testing.assert_allclose(asked.policies.sum(-1), 1.0)
    ml = mp.dpo.iterate(profile, rounds=5, mode="rule", rule="maximal_lottery", step=1.0, n_samples=64)
    assert ml.history.tv_to_maximal_lottery.iloc[-1] < 0.05
    for kwargs, match in ((dict(mode="nope"), "mode"), (dict(scorer="nope"), "scorer"), (dict(rounds=0), "rounds"),
                          (dict(step=0), "step"), (dict(initial=np.ones((1, 3))), "initial")):
        with pytest.raises(mp.DataError, match=match):
            mp.dpo.iterate(profile, **kwargs)


def test_iterate_lm_one_round(tiny_lm, tmp_path):
    dim = 8

    def encoder(texts):
        out = np.zeros((len(texts), dim))
        for i, t in enumerate(texts):
            for ch in t:
                out[i, ord(ch) % dim] += 1.0
        return out / np.maximum(1.0, np.linalg.norm(out, axis=1, keepdims=True))

    theta = np.random.default_rng(0).normal(size=(2, dim))
    reward = mp.dpo.PopulationReward(lambda phi: theta @ phi.T, weights=[0.6, 0.4], encoder=encoder)
    history = mp.dpo.iterate_lm(tiny_lm, ["which is better ?", "is it good ?"], reward, tmp_path / "loop", rounds=1,
                                n_samples=4, steps_per_round=2)
    assert list(history["round"]) == [1] and history.pairs.iloc[0] > 0
    assert (tmp_path / "loop" / "round-001" / "config.json").exists()
    assert 0 <= history.type0_vs_start.iloc[0] <= 1
    with pytest.raises(mp.DataError, match="win_rate"):
        mp.dpo.iterate_lm(tiny_lm, ["q"], mp.dpo.PopulationReward(lambda phi: phi.T, reward="lottery"), tmp_path)


@pytest.mark.slow
def test_iterative_study_small_writes_only_to_the_given_folder(tmp_path):
    spec = importlib.util.spec_from_file_location("iterative_study", REPO / "studies" / "iterative.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--small", "--no-lm", "--out", str(tmp_path / "smoke")])
    report = (tmp_path / "smoke" / "report.md").read_text()
    assert "smoke run" in report
    cyc = results["condorcet_cycle"].set_index("run")
    assert cyc.loc["maximal_lottery", "tv_avg_to_maximal_lottery"] < cyc.loc["pooled", "tv_avg_to_maximal_lottery"]
    assert (tmp_path / "smoke" / "condorcet_cycle_trajectories.png").exists()
