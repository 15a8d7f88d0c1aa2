"""Study `dpo_targets`: what does DPO learn from each rule's targets?

For the two populations of the `aggregation_rules` study (a 60/40 majority/minority and a
Condorcet cycle), each rule's lottery becomes DPO pairs (``mp.to_dpo_pairs``), a tabular
softmax policy is trained on them with DPO (``mp.dpo.train_tabular``), and each type's
expected win rate of the trained policy against the (uniform) reference policy is
reported: the rule's choice, as DPO actually carries it into a policy. Then one run of
``mp.dpo.train_lm`` on a tiny random causal LM shows the same targets driving an LM.

Run: ``python studies/dpo_targets.py`` (``--small`` for a smoke test).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import mixpref as mp
from mixpref.dpo.group_robust import type_pairs, type_win_rates
from mixpref.reporting import Report, grouped_bars

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aggregation_rules import cycle_profile, majority_minority_profile

RESULTS = Path(__file__).resolve().parent / "results" / "dpo_targets"
RULES = ["majority", "pooled", "borda", "copeland", "maximal_lottery", "maxmin"]


BETAS = (0.1, 0.5, 1.0)


def tv(a, b):
    return float(np.mean(0.5 * np.abs(a - b).sum(1)))


def run_population(key, profile, beta, steps, run, group_rounds=150):
    rows = []
    reference = profile.mask / profile.mask.sum(1, keepdims=True)
    for rule in RULES:
        lottery = mp.aggregate(profile, rule)
        pairs = mp.to_dpo_pairs(lottery, strategy="all_pairs")
        # a rule indifferent between all candidates (e.g. Copeland on a cycle) orders no
        # pair: DPO then has nothing to learn and the policy stays at the reference
        probs = mp.dpo.train_tabular(pairs, lottery, beta=beta, steps=steps).probs if len(pairs) else reference
        rates = type_win_rates(profile, probs, reference)
        support = lottery.probs > 1e-6
        row = {"rule": rule, "pairs": len(pairs), "mass_on_lottery_support": float(np.mean((probs * support).sum(1))),
               "tv_to_lottery": tv(probs, lottery.probs)}
        # soft DPO on the head-to-head labels (the old default): its optimum is not the lottery
        soft_old = mp.dpo.train_tabular(pairs, lottery, loss="soft", beta=0.1, steps=steps).probs if len(pairs) else reference
        row["tv_soft_pairwise_b0.1"] = tv(soft_old, lottery.probs)
        # soft labels that know the trainer's beta and reference: the lottery is the optimum
        for b in BETAS:
            soft_pairs = mp.to_dpo_pairs(lottery, strategy="all_pairs", beta=b)
            soft = mp.dpo.train_tabular(soft_pairs, lottery, loss="soft", beta=b, steps=steps).probs if len(soft_pairs) else reference
            row[f"tv_soft_b{b:g}" if b != 1.0 else "tv_to_lottery_soft"] = tv(soft, lottery.probs)
        row.update({f"type{k}_vs_reference": float(r) for k, r in enumerate(rates)})
        row["worst_type_vs_reference"] = float(rates.min())
        rows.append(row)
        run.log_metrics({f"{rule}.worst_vs_reference": row["worst_type_vs_reference"],
                         f"{rule}.tv_soft_b0.1": row["tv_soft_b0.1"], f"{rule}.tv_to_lottery_soft": row["tv_to_lottery_soft"]})
    # group-robust DPO on each type's own labels (no aggregation), next to the rules: the adversary
    # driven by GR-DPO's excess loss ("dpo") or by each type's win-rate shortfall ("win_rate")
    lottery = mp.aggregate(profile, "maxmin")
    pairs, per_prompt_pairs = type_pairs(profile), type_pairs(profile, per_prompt=True)
    trainings = [("pooled (type labels)", lambda: mp.dpo.train_tabular(pairs, lottery, loss="soft", beta=beta, steps=steps))]
    for objective in ("dpo", "win_rate"):
        trainings += [
            (f"group_robust {objective}, one group per type",
             lambda o=objective: mp.dpo.train_tabular(pairs, lottery, loss="group_robust", beta=beta, steps=100,
                                                      group_rounds=60, group_objective=o)),
            (f"group_robust {objective}, per (prompt, type)",
             lambda o=objective: mp.dpo.train_tabular(per_prompt_pairs, lottery, loss="group_robust", beta=beta,
                                                      steps=100, group_rounds=group_rounds, group_objective=o,
                                                      group_simplex="prompt")),
        ]
    group_rows = []
    for name, train in trainings + [("maxmin lottery", lambda: lottery),
                                    ("max-min of type averages (LP)", lambda: _maxmin_of_averages(profile))]:
        start = time.perf_counter()
        probs = train().probs
        seconds = time.perf_counter() - start
        rates = type_win_rates(profile, probs, reference)
        row = {"training": name, "pairs": len(per_prompt_pairs) if "(type labels)" in name or "group_robust" in name else 0}
        row.update({f"type{k}_vs_reference": float(r) for k, r in enumerate(rates)})
        row["worst_type_vs_reference"] = float(rates.min())
        # what max-min maximises: the worst type's win rate on each prompt, then averaged
        per_prompt_rates = type_win_rates(profile, probs, reference, per_prompt=True)
        row["prompt_worst_vs_reference"] = float(np.where(profile.weights > 0, per_prompt_rates, np.inf).min(1).mean())
        row["seconds"] = seconds
        group_rows.append(row)
    run.log_metrics({f"{row['training']}.worst_vs_reference".replace(" ", "_").replace(",", "").replace("(", "").replace(")", ""):
                     row["worst_type_vs_reference"] for row in group_rows})
    return pd.DataFrame(rows), pd.DataFrame(group_rows)


GROUP_TEXT = (
    "Pooled soft DPO and group-robust DPO (`loss='group_robust'`) train on the same pairs: each type's own labels "
    "(`mp.dpo.type_pairs`). Group-robust training descends the type-weighted DPO loss while an adversary raises "
    "the weights of the worst-off types by exponentiated gradient; what counts as worst off is "
    "`group_objective`: `dpo` is GR-DPO (each type's DPO loss in excess of its labels' entropy), `win_rate` is "
    "each type's win-rate shortfall 1 - WR_k(pi) against the reference, computed exactly for the tabular policy "
    "(the quantity max-min protects). With one group per type the weights balance the types over all prompts "
    "together; per (prompt, type) (`type_pairs(profile, per_prompt=True)`, `group_simplex='prompt'`: one simplex "
    "of weights per prompt) they balance the types on every prompt. `maxmin lottery` is the max-min rule's lottery "
    "itself; `max-min of type averages (LP)` is the policy that maximises the worst type's win rate *averaged over "
    "prompts* (one LP over all prompts), which is what one group per type balances. "
    "`prompt_worst_vs_reference` is what the max-min rule maximises: the worst type's win rate on each prompt, "
    "averaged over prompts. `seconds`: training time.\n\n"
    "Why the rows differ. GR-DPO's signal is an excess KL from each type's pairwise labels to the policy's implied "
    "probabilities sigma(beta log pi_i/pi_j) over *all* pairs, including pairs of candidates the policy barely "
    "plays: equal excess losses are not equal win rates, so GR-DPO does not balance win rates (on the 60/40 population "
    "it ends with the minority well ahead of the majority, and some prompts very unequal). The win-rate "
    "adversary balances the win rates themselves, but only over the policies DPO can reach: for each setting of "
    "the type weights the policy is the weighted soft-DPO optimum, a (K - 1)-parameter family per prompt (one "
    "parameter with two types; peaked but of full support at beta = 0.1), and the level point on that family is at most the max-min "
    "value, which is the best over all lotteries. One group per type balances the prompt-averaged win rates, a "
    "different max-min (min of averages, not average of mins) whose optimum is the LP row: on the 60/40 population "
    "both types end above what the max-min lottery gives them on average, while the per-prompt worst case is far lower.\n\n"
    "Default: `loss='group_robust'` keeps `group_objective='dpo'` (GR-DPO). The win-rate adversary is better for "
    "the worst type here, but it exists only where a type's win rate of the policy is computable from the pairs "
    "(the tabular policy); `SoftDPOTrainer` on an LM refuses it, and one loss name must train the same objective "
    "in every trainer. Use `group_objective='win_rate'` with the tabular trainer, or `mp.aggregate(profile, "
    "'maxmin')` with `to_dpo_pairs(lottery, beta=...)` when the max-min lottery itself is the target."
)


def group_summary(table):
    """The measured comparison, in words, from a group-robust table."""
    t = table.set_index("training")
    minority = [c for c in t.columns if c.startswith("type") and c.endswith("_vs_reference")][-1]
    mm = t.loc["maxmin lottery"]
    lines = ["Measured (`{}`, the last type's win rate; `prompt_worst`):".format(minority)]
    for name in t.index:
        row = t.loc[name]
        lines.append(f"* {name}: {row[minority]:.3f} ({row[minority] - mm[minority]:+.3f} vs max-min); "
                     f"prompt_worst {row['prompt_worst_vs_reference']:.3f}")
    return "\n".join(lines)


def _maxmin_of_averages(profile):
    """The policy maximising the worst type's win rate averaged over prompts (one LP over all prompts):
    what group-robust training with one group per type balances, where max-min balances each prompt."""
    from scipy.optimize import linprog
    from types import SimpleNamespace

    u = profile.utilities("winrate")  # (P, K, M): type k's win rate of i against a uniform draw
    n, k, m = u.shape
    active = profile.weights > 0
    a_ub = np.zeros((k, n * m + 1))
    for t in range(k):
        a_ub[t, :-1] = -(np.where(profile.mask, u[:, t], 0.0) * active[:, t, None] / max(active[:, t].sum(), 1)).ravel()
        a_ub[t, -1] = 1.0
    a_eq = np.zeros((n, n * m + 1))
    for p in range(n):
        a_eq[p, p * m:(p + 1) * m] = profile.mask[p]
    bounds = [(0, None if ok else 0) for ok in profile.mask.ravel()] + [(None, None)]
    c = np.zeros(n * m + 1)
    c[-1] = -1.0
    res = linprog(c, A_ub=a_ub, b_ub=np.zeros(k), A_eq=a_eq, b_eq=np.ones(n), bounds=bounds, method="highs")
    return SimpleNamespace(probs=np.clip(res.x[:-1].reshape(n, m), 0, None))


def tiny_lm_run(work_dir, steps, seed):
    """One train_lm run on a tiny random GPT-2 with a tokenizer built in code (no download)."""
    from mixpref.dpo.tiny import tiny_causal_lm

    model_dir = tiny_causal_lm(Path(work_dir) / "tiny_lm", seed=seed)
    pairs = pd.DataFrame(
        {
            "prompt": ["which is better ?"] * 8,
            "chosen": ["good answer", "kind answer", "clear answer", "good kind answer"] * 2,
            "rejected": ["bad answer", "rude answer", "vague answer", "bad rude answer"] * 2,
        }
    )
    result = mp.dpo.train_lm(model_dir, pairs, loss="sigmoid", beta=0.5, epochs=steps, batch_size=8, lr=5e-3,
                             output_dir=Path(work_dir) / "tiny_lm_dpo")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", default=None,
                        help="default: studies/results/dpo_targets (a full run), a new temporary folder (--small)")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beta", type=float, default=0.1, help="the trainers' default")
    parser.add_argument("--no-lm", action="store_true", help="skip the tiny LM run")
    args = parser.parse_args(argv)
    if args.out is None:
        # a smoke run never overwrites the committed full results
        args.out = tempfile.mkdtemp(prefix="dpo_targets-small-") if args.small else str(RESULTS)
    rng = np.random.default_rng(args.seed)
    n_prompts, steps = (10, 100) if args.small else (200, 300)
    results = {}
    with mp.Study("dpo_targets", tracking_uri=args.tracking_uri, output_dir=args.out) as study:
        title = "What DPO learns from each rule's targets" + (" (smoke run: --small, not the results)" if args.small else "")
        report = Report(args.out, title, study)
        report.text(__doc__.split("\n\n", 1)[1].split("Run:")[0])
        for key, title, profile in (
            ("majority_minority", "60/40 majority/minority", majority_minority_profile(n_prompts, 6, 2.0, rng)),
            ("condorcet_cycle", "Condorcet cycle", cycle_profile(n_prompts, 3.0, rng)),
        ):
            with study.run(key, params={"population": key, "beta": args.beta, "steps": steps}) as run:
                table, group_table = run_population(key, profile, args.beta, steps, run, group_rounds=30 if args.small else 150)
            results[key] = table
            report.text(f"## {title}")
            report.table(table, f"{key}_dpo", f"{title}: trained policy vs reference, per type", floatfmt=".3f")
            cols = [c for c in table.columns if c.startswith("type")]
            fig = grouped_bars(table.set_index("rule"), cols, "win rate of the DPO policy vs reference",
                               [c.replace("_vs_reference", "") for c in cols])
            report.figure(fig, f"{key}_dpo", f"{title}: each type's win rate of the DPO-trained policy")
            report.text(
                "`tv_to_lottery` is the total-variation distance between the rule's lottery and the policy trained with "
                "hard-label DPO (`loss='sigmoid'`) at beta = {beta:g}: hard pairs push the policy onto the lottery's top "
                "candidates, so a mixed lottery (maximal lottery on a cycle, max-min) is not reproduced. "
                "`tv_soft_pairwise_b0.1` trains soft-label DPO at the trainers' default beta = 0.1 on the head-to-head "
                "labels (`to_dpo_pairs(lottery)`, p = the pooled P(chosen beats rejected)): its optimum is not the "
                "lottery. `tv_soft_b*` uses `to_dpo_pairs(lottery, beta=b)`, labels sigma(b log(q_c/q_r)) relative to the "
                "(uniform) reference, whose soft-DPO optimum at that beta is the lottery: it is reached at every beta "
                "(`tv_to_lottery_soft` is b = 1). Type columns are each type's win rate of the hard-label policy "
                "against the uniform reference.".format(beta=args.beta)
            )
            report.table(group_table, f"{key}_group_robust",
                         f"{title}: group-robust DPO on each type's own labels vs pooling them vs max-min aggregation",
                         floatfmt=".3f")
            report.text(GROUP_TEXT + "\n\n" + group_summary(group_table))
        if not args.no_lm:
            with study.run("tiny_lm", params={"loss": "sigmoid", "beta": 0.5}) as run:
                with tempfile.TemporaryDirectory() as work:  # checkpoints are not results
                    lm = tiny_lm_run(work, 3 if args.small else 30, args.seed)
                margins = {"margin_first": float(lm.history.margin.iloc[0]), "margin_last": float(lm.history.margin.iloc[-1])}
                run.log_metrics(margins)
            report.text("## A tiny causal LM\n" + ", ".join(f"{k}: {v:.4f}" for k, v in margins.items()))
        path = report.write()
    for key, table in results.items():
        print(f"\n{key}\n{table.round(3).to_string(index=False)}")
    print(f"report: {path}")
    return results


if __name__ == "__main__":
    main()
