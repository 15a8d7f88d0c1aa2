"""The demo's report: every number once, every column defined, every relation named.

Read by a researcher seeing mixpref for the first time, so each section says what was
computed and how, and the plots carry their own titles, legends and units.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from .aggregation.lottery import truncate_text
from .aggregation.profile import MARGIN_TOL
from .aggregation.registry import get_rule
from .aggregation.relations import condorcet_winner, has_cycle
from .reporting import grouped_bars, new_figure

# compare_rules columns shown in the report, with their definitions (type columns are added per type)
RULE_COLUMNS = {
    "mean_vs_uniform": "type-weighted average of the types' win rates against a uniformly random argument",
    "worst_type": "the type with the lowest win rate against a random argument",
    "worst_vs_uniform": "that worst type's win rate against a random argument",
    "condorcet_chosen": "fraction of the topics with a type-majority Condorcet winner where the lottery puts all "
    "its mass on it (empty when no topic has one)",
    "pareto_violations": "topics where the lottery puts mass on a Pareto-dominated argument: another argument that "
    "no type likes less and at least one type likes more",
    "dominated_mass": "mean probability the lottery puts on such Pareto-dominated arguments",
    "exploitability": "mean, over topics, of the largest expected margin any argument has against a draw from the "
    "lottery under the pooled matrix (0 for the maximal lottery)",
    "support": "mean number of arguments with positive probability",
}


def write_report(report, data, summary, selection, n_se, single_ll, mixture, mixture_ll, profile, table, lottery,
                 rule, pairs, timings):
    """Fill ``report`` (a :class:`mixpref.reporting.Report`) with the demo's results."""
    k = len(mixture.weights_)
    report.text(
        "UKPConvArg1 (Habernal & Gurevych 2016, CC BY 4.0): crowd workers judged which of two web "
        "arguments on the same topic and debate side is more convincing, or that they are equal. "
        "Arguments are embedded with the bundled all-MiniLM-L6-v2; a mixture of Bradley–Terry "
        "*types* (groups of annotators who share a reward function) is fitted; every social-choice "
        "rule is applied to the fitted population, topic by topic."
    )
    report.text(
        f"**Data**: {summary.n_comparisons:,} comparisons by {summary.n_annotators:,} annotators on "
        f"{summary.n_prompts} topics and {summary.n_responses:,} arguments; {100 * summary.tie_rate:.1f}% ties. "
        "One held-out set is used throughout: 20% of the comparisons, drawn at random."
    )
    _selection(report, selection, n_se)
    _types(report, mixture, k, single_ll, mixture_ll)
    _relations(report, summary, profile, k)
    _rules(report, table, rule, k, mixture)
    _first_topic(report, data, profile, lottery, rule)
    report.text(
        f"## DPO targets\n{len(pairs):,} (prompt, chosen, rejected) pairs from `{rule}` in `dpo_targets.jsonl` "
        "(columns include `p_chosen`, the pooled probability that the chosen argument beats the rejected one, "
        "and the SPPO-style win probabilities against the lottery).\n\n"
        "## Timings\n" + ", ".join(f"{name}: {v:.1f} s" for name, v in timings.items())
        + " (`select_and_fit_s` fits every K, the single model included, on the training comparisons)"
    )


def _selection(report, selection, n_se):
    sel = selection.table
    best = int(sel.loc[sel["heldout_ll"].idxmax(), "k"])
    report.text("## How many annotator types?")
    report.text(
        f"Each K is fitted on the 80% training comparisons and scored on the held-out 20%. **Rule**: K is the "
        f"smallest K whose held-out log-likelihood is within {n_se:g} standard errors of the best K's "
        f"(here the best is K = {best}); more types must beat fewer by more than noise. The standard error "
        "is that of the difference to the best K, clustered by annotator, so the best K's own is 0. "
        f"**Chosen: K = {selection.k}.**"
    )
    shown = sel[["k", "heldout_ll", "se", "train_ll", "n_params", "seconds"]].copy()
    shown["gap_to_best"] = float(sel["heldout_ll"].max()) - sel["heldout_ll"]
    shown["within_rule"] = shown["gap_to_best"] <= n_se * shown["se"] + 1e-12
    report.table(shown, "selection", "Held-out log-likelihood by K", floatfmt=".4f")
    report.text(
        "Columns: `heldout_ll` mean log-likelihood per held-out comparison (higher is better); `se` standard "
        "error of its difference to the best K; `train_ll` the same on the training comparisons; `n_params` "
        "free parameters; `seconds` fit time; `gap_to_best` best `heldout_ll` minus this K's; `within_rule` "
        f"whether `gap_to_best` <= {n_se:g} x `se`."
    )
    fig, ax = new_figure(5.5, 3.5)
    ax.errorbar(sel["k"], sel["heldout_ll"], yerr=n_se * sel["se"], marker="o", capsize=4,
                label=f"held-out log-likelihood ± {n_se:g} SE of the difference to the best K")
    ax.axvline(selection.k, color="grey", ls="--", lw=0.8, label=f"chosen K = {selection.k}")
    ax.set_xticks(sel["k"].astype(int).tolist())
    ax.set_xlabel("K (number of annotator types)")
    ax.set_ylabel("held-out log-likelihood per comparison")
    ax.set_title("Choosing the number of types")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, fontsize=8)
    report.figure(fig, "heldout_by_k", "Held-out log-likelihood by K, with the selection rule's error bars")


def _types(report, mixture, k, single_ll, mixture_ll):
    sizes = mixture.assign().value_counts().reindex(range(k), fill_value=0)
    report.text("## The types")
    if k == 1:
        report.text(
            f"One type was chosen: the population is described by a single Bradley–Terry model, held-out "
            f"log-likelihood {single_ll:.4f} per comparison (the K = 1 row above). With one type every rule "
            "reads the same single preference, so the rules below can differ only in how they break near-ties "
            "and spread probability."
        )
    else:
        report.text(
            f"Single Bradley–Terry model (the K = 1 row above): held-out log-likelihood {single_ll:.4f} per "
            f"comparison; the chosen mixture with K = {k}: {mixture_ll:.4f} ({mixture_ll - single_ll:+.4f})."
        )
    fig, (ax1, ax2) = new_figure(8, 3.2, ncols=2)
    names = [f"type {i}" for i in range(k)]
    ax1.bar(names, mixture.weights_, color="tab:blue", label="mixing proportion of the type")
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("type weight")
    ax1.set_title("Type weights")
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False, fontsize=8)
    ax2.bar(names, sizes.to_numpy(), color="tab:red", label="annotators whose most probable type it is")
    ax2.set_ylim(bottom=0)
    ax2.set_ylabel("annotators")
    ax2.set_title(f"Annotators assigned (of {int(sizes.sum()):,} with training comparisons)", fontsize=10)
    ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False, fontsize=8)
    fig.tight_layout()
    report.figure(fig, "type_weights", "Type weights, and the number of annotators whose most probable type each "
                  "is (annotators with no comparison in the training 80% are not assigned)")


def _relations(report, summary, profile, k):
    """Condorcet winners and cycles, counted one way (a directed cycle of strict majorities) on named relations."""
    mask = profile.mask
    pooled = profile.pooled()
    diff = pooled - np.swapaxes(pooled, 1, 2)
    pooled_rel = np.where(diff > MARGIN_TOL, 1, np.where(diff < -MARGIN_TOL, -1, 0))
    type_rel = profile.majority()
    rows = [
        {"relation": "raw comparisons (pairwise majority of the annotators' votes, compared pairs only)",
         "condorcet_winner_topics": "", "cycle_topics": len(summary.cyclic_prompts)},
        {"relation": "pooled: P̄(i beats j) > P̄(j beats i) (what one model of everyone sees)",
         "condorcet_winner_topics": int((condorcet_winner(pooled_rel, mask) >= 0).sum()),
         "cycle_topics": int(has_cycle(pooled_rel, mask).sum())},
        {"relation": "type majority: the weight of types preferring i exceeds that preferring j",
         "condorcet_winner_topics": int((condorcet_winner(type_rel, mask) >= 0).sum()),
         "cycle_topics": int(has_cycle(type_rel, mask).sum())},
    ]
    report.text("## Majority relations, Condorcet winners and cycles")
    report.text(
        f"Of {profile.n_prompts} topics, how many have a Condorcet winner (an argument that beats every other) "
        "and how many have a cycle (a beats b beats ... beats a), under three relations. All counts use one "
        "definition: a topic has a cycle when its graph of strict majorities has a directed cycle anywhere among "
        "its arguments (so a topic can have both a Condorcet winner and a cycle among the arguments below "
        "it). The raw "
        "comparisons cover only the pairs annotators saw, so their Condorcet winner is not defined. "
        + ("With one type, both fitted relations are that type's Bradley–Terry order, which is transitive: "
           "cycles in the raw votes are noise the model smooths, or heterogeneity it did not resolve. "
           if k == 1 else "")
        + "**In the rules table, `condorcet_chosen` refers to the type-majority relation.**"
    )
    report.table(pd.DataFrame(rows), "relations", "Condorcet winners and cycles by relation")


def _rules(report, table, rule, k, mixture):
    report.text(f"## Rules compared (the lottery used for DPO targets: `{rule}`)")
    types = [f"type{i}_vs_uniform" for i in range(k)]
    favs = [f"type{i}_vs_favourite" for i in range(k)]
    shown = table[[c for pair in zip(types, favs) for c in pair] + [c for c in RULE_COLUMNS if c in table.columns]]
    report.table(shown.reset_index(), "rules", "Whom each rule serves (averages over topics)", floatfmt=".3f")
    defs = [
        "`typeK_vs_uniform`: type K's expected win rate of a draw from the rule's lottery against a uniformly "
        "random argument of the topic (ties count half; 0.5 = no better than random)",
        "`typeK_vs_favourite`: the same against type K's own favourite argument (0.5 = the lottery gives "
        "type K its favourite)",
        *(f"`{c}`: {d}" for c, d in RULE_COLUMNS.items() if c in shown.columns),
    ]
    report.text("Columns:\n" + "\n".join(f"- {d}" for d in defs))
    skipped = table.attrs.get("skipped", {})
    if skipped:
        report.text("Rules not in the table:\n" + "\n".join(f"- `{r}`: {why}" for r, why in skipped.items()))
    labels = [f"type {i} (weight {w:.2f})" for i, w in enumerate(mixture.weights_)]
    fig = grouped_bars(table, types, "win rate vs a random argument", labels,
                       title="Each type's win rate under each rule (0.5 = a uniformly random argument)")
    report.figure(fig, "winrate_by_rule", "Each type's win rate by rule")


def _first_topic(report, data, profile, lottery, rule):
    prompt = profile.prompts[0]
    titles = dict(zip(data.prompts["prompt_id"], data.prompts["text"])) if "text" in data.prompts.columns else {}
    title = titles.get(prompt, prompt)
    mask = profile.mask[0]
    pooled = profile.pooled()[0][np.ix_(mask, mask)]
    order = np.argsort(-pooled.sum(axis=1))  # best (Borda) first, so the structure is visible
    fig, ax = new_figure(5.5, 5)
    image = ax.imshow(pooled[np.ix_(order, order)], vmin=0, vmax=1, cmap="RdBu_r")
    ax.set_xlabel("argument j (rank by pooled Borda score, 0 = best)")
    ax.set_ylabel("argument i (rank by pooled Borda score, 0 = best)")
    ax.set_title("\n".join(textwrap.wrap(f"P(i beats j), pooled over types, topic: {title}", 50)), fontsize=9)
    fig.colorbar(image, ax=ax, label="P(i beats j)")
    report.text(f"## One topic: {title}")
    report.figure(fig, "preference_matrix", "Pooled preference matrix of the first topic")
    frame = lottery.to_frame()
    frame = frame[frame["prompt_id"] == prompt].sort_values(["prob", "score"], ascending=False).head(5)
    if "text" not in frame.columns:
        frame.insert(2, "text", [truncate_text(t) for t in frame["response_id"]])
    report.table(frame[["response_id", "text", "prob", "score"]], "first_topic_lottery",
                 f"The `{rule}` lottery's five most probable arguments on this topic (ties in probability ordered by score)", floatfmt=".3f")
    report.text(
        "Columns: `response_id` the dataset's id of the argument; `text` its first 80 characters; `prob` its "
        f"probability under the lottery; `score` the rule's own score of it: {get_rule(rule).score}"
    )
