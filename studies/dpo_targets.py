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


def run_population(key, profile, beta, steps, run):
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
    # group-robust DPO on each type's own labels (no aggregation), next to the rules
    lottery = mp.aggregate(profile, "maxmin")
    pairs = type_pairs(profile)
    robust = mp.dpo.train_tabular(pairs, lottery, loss="group_robust", beta=beta, steps=100, group_rounds=40)
    pooled = mp.dpo.train_tabular(pairs, lottery, loss="soft", beta=beta, steps=steps)
    per_prompt = mp.dpo.train_tabular(type_pairs(profile, per_prompt=True), lottery, loss="group_robust", beta=beta,
                                      steps=100, group_rounds=60, group_step=50.0)
    group_rows = []
    for name, probs in (("group_robust (type labels)", robust.probs),
                        ("group_robust per prompt (type labels)", per_prompt.probs),
                        ("pooled (type labels)", pooled.probs), ("maxmin lottery", lottery.probs)):
        rates = type_win_rates(profile, probs, reference)
        row = {"training": name, "pairs": len(pairs) if "labels" in name else 0}
        row.update({f"type{k}_vs_reference": float(r) for k, r in enumerate(rates)})
        row["worst_type_vs_reference"] = float(rates.min())
        # what max-min maximises: the worst type's win rate on each prompt, then averaged
        per_prompt_rates = np.einsum("pi,pkij,pj->pk", probs, profile.win_rates(), reference)
        row["prompt_worst_vs_reference"] = float(np.where(profile.weights > 0, per_prompt_rates, np.inf).min(1).mean())
        group_rows.append(row)
    run.log_metrics({"group_robust.worst_vs_reference": group_rows[0]["worst_type_vs_reference"]})
    return pd.DataFrame(rows), pd.DataFrame(group_rows)


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
                table, group_table = run_population(key, profile, args.beta, steps, run)
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
            report.text(
                "Group-robust DPO (`loss='group_robust'`: exponentiated-gradient weights on the types' excess losses, "
                "GR-DPO) and plain soft DPO train on the same pairs, each type's own labels (`mp.dpo.type_pairs`); "
                "the max-min row is the max-min lottery itself. Group-robust training with one group per type "
                "balances the types over all prompts together; with one group per (prompt, type) "
                "(`type_pairs(profile, per_prompt=True)`) it balances the types on every prompt. "
                "`prompt_worst_vs_reference` is what max-min maximises: the worst type's win rate on each prompt, "
                "averaged over prompts.\n\n"
                "Group-robust DPO does not reproduce max-min, and should not be expected to: the two optimise "
                "different objectives. Max-min maximises the worst type's *win rate*, linear in the policy (it depends "
                "only on where the mass sits, so its lottery is sparse and equalises the types' win rates). GR-DPO "
                "minimises the worst type's DPO loss in excess of its labels' entropy, i.e. the worst type's KL from "
                "its pairwise labels to the policy's implied probabilities sigma(beta log pi_i/pi_j) over *all* pairs, "
                "including pairs of candidates the policy barely plays; equal excess losses are not equal win rates. "
                "On the 60/40 population that favours the minority: with one group per type its win rate is above max-min's (and far "
                "above pooled training's) while the majority's is at or just above max-min's; with one group per "
                "(prompt, type) some prompts still end with very unequal win rates at equal excess losses, so the "
                "per-prompt worst-type win rate stays below max-min's. A group loss equal to each type's win-rate "
                "shortfall would reproduce max-min exactly, but it is no longer a DPO loss (no pairwise likelihood, "
                "no closed-form optimum), so `loss='group_robust'` keeps GR-DPO's semantics; use `mp.aggregate(profile, "
                "'maxmin')` with `to_dpo_pairs(lottery, beta=...)` when the max-min lottery itself is the target."
            )
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
