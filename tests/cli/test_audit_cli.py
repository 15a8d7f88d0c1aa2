"""``mixpref audit`` and ``mixpref aggregate --posterior`` on saved profiles, against the library."""

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import mixpref as mp
from mixpref.aggregation.posterior import aggregate_posterior
from mixpref.cli import aggregate as agg_cli
from mixpref.cli import audit as audit_cli


@pytest.fixture
def app():
    app = typer.Typer()
    agg_cli.register(app)
    audit_cli.register(app)
    return app


@pytest.fixture
def profiles(tmp_path):
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(4, 2, 3))
    draws = rewards + 0.4 * rng.normal(size=(40, 4, 2, 3))
    with_draws = mp.Profile.from_rewards(rewards, [0.6, 0.4], reward_samples=draws)
    with_draws.save(tmp_path / "draws.npz")
    # the Condorcet cycle of the aggregation_rules study: three types, three candidates
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 2.0]])
    cycle = mp.Profile.from_rewards(3.0 * np.repeat(scores[None], 2, axis=0), [0.40, 0.35, 0.25])
    cycle.save(tmp_path / "cycle.npz")
    return tmp_path


def test_aggregate_posterior_writes_the_posterior_table(app, profiles):
    out = profiles / "post.csv"
    res = CliRunner().invoke(app, ["aggregate", str(profiles / "draws.npz"), "--rule", "borda", "--posterior",
                                   "--out", str(out), "--tracking-uri", "none"])
    assert res.exit_code == 0, res.output
    assert "interval" in res.output and "40 posterior draws" in res.output
    table = pd.read_csv(out)
    expected = aggregate_posterior(mp.Profile.load(profiles / "draws.npz"), "borda", study=False).to_frame()
    np.testing.assert_allclose(table["support_probability"], expected["support_probability"])
    np.testing.assert_allclose(table["prob"], expected["prob"])


def test_aggregate_posterior_without_draws_says_which_inference_gives_them(app, profiles):
    res = CliRunner().invoke(app, ["aggregate", str(profiles / "cycle.npz"), "--posterior", "--tracking-uri", "none"])
    assert res.exit_code == 2
    assert "laplace" in res.output


def test_audit_command_on_the_condorcet_cycle(app, profiles):
    out = profiles / "audit.csv"
    res = CliRunner().invoke(app, ["audit", str(profiles / "cycle.npz"), "--rules", "pooled,maximal_lottery",
                                   "--method", "lp", "--out", str(out), "--tracking-uri", "none"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out).set_index("rule")
    assert table.loc["maximal_lottery", "exploitability"] <= 1e-6 < table.loc["pooled", "exploitability"]
    expected = mp.audit(mp.Profile.load(profiles / "cycle.npz"), rules=["pooled", "maximal_lottery"],
                        options={"maximal_lottery": {"method": "lp"}})
    np.testing.assert_allclose(table["exploitability"], expected["exploitability"], atol=1e-12)


def test_audit_rejects_a_malformed_rule_option(app, profiles):
    res = CliRunner().invoke(app, ["audit", str(profiles / "cycle.npz"), "--option", "type=1", "--tracking-uri", "none"])
    assert res.exit_code == 2
    assert "RULE.KEY=VALUE" in res.output
