"""Study `active_learning`: which question to ask, of whom, and what it saves.

Four experiments with ``mixpref.active`` (``suggest``: objectives ``type``, ``reward``
(BALD), ``decision``, ``prediction`` (EPIG), ``uncertainty``, ``random``; a query reveals
the label a pool row holds, drawn from the synthetic population's ground truth or recorded
in the real data):

1. **Population learning**: a 3-type population (d = 32, logit sd 2, 30 annotators); a
   MixtureBT (Laplace posterior) refitted after every batch, warm-started: the previous
   round's fit is one more start beside the model's own restarts and the best training
   objective wins (``mixpref.active.refit``); held-out log-likelihood per
   comparison and ARI of the annotators' types vs the number of labels, each objective vs
   random, 3 seeds. Label saving: the labels the objective needs to reach the held-out LL
   that random reaches with the full budget, as a fraction of that budget. 1b repeats it
   with a 5x larger pool of candidates (50,000 (pair, annotator) rows, same budget; unlabelled
   candidates are cheap, and BAL-PM / APL select from pools of 10^5+); 1c records what each
   objective asks for in both pools. 1d draws the same kind of population on *real* text
   embeddings (UKPConvArg1's arguments, MiniLM, PCA to 32 dimensions; types and labels
   synthetic, so the truth is known): real embeddings are anisotropic and clustered, where
   isotropic random directions make every pair about equally informative. Each setting
   also reports a bound (``lib/optimal_design.py``): the labels that the best possible design,
   knowing the true parameters, needs to match random's full budget (asymptotically).
   1e changes one setting of 1d at a time (dimensions, annotators, types).
2. **Onboarding**: new annotators of a known type (K = 3, logit sd 2, d = 64) asked one
   question at a time; after each answer the model is adapted (``model.adapt``: the type
   posterior, population frozen). Questions until the posterior on the true type is >= 0.95,
   ``type`` (expected information gain) vs random.
3. **Decisions**: a population whose weighted majority is a Condorcet cycle on half of the
   prompts (3 candidates each); labels until the maximal lottery's support is identified
   (posterior probability of the true support >= 0.9, averaged over prompts), ``decision``
   vs ``reward`` vs random. The support in each posterior draw is the Smith set of the
   draw's majority margins, weighted by the draw's own type weights (the Laplace posterior
   includes the weight logits), which equals the maximal lottery's support with 3 candidates.
   3b repeats it with preferences twice as sharp (reward scale 3 instead of 1.5): at 1.5
   each cycle hinges on a pair whose true weighted-majority margin is ~0.02 (a near-tie no
   budget here can resolve); at 3 that margin is ~0.145.
4. **Real-data replay**: UKPConvArg1 (a random subset of topics, MiniLM features): the pool
   is the labelled training judgments, a query reveals the recorded label; held-out LL of a
   Bradley-Terry model (Laplace posterior) vs labels for each objective (``type`` is
   omitted: a single model has no types).

Run: ``python studies/active_learning.py`` (``--small`` for a smoke test; ``--parts population``
runs one part and re-assembles report.md from the sections already written; ``--parts report``
only re-assembles). 1b: ``--parts population --population-pool 50000``; seeds can run in separate
processes (``--population-seeds 0``, each with its own ``--out``), then one run with
``--reuse-curves`` assembles the saved curves (copied into ``population_pool50000/curves/``).
Set ``OMP_NUM_THREADS=1`` on a shared machine: each refit is small.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import mixpref as mp
from mixpref._io import atomic_path
from mixpref.active import onboard, simulate, truth_pool
from mixpref.active.belief import belief_of
from mixpref.active.outcomes import outcome_codes
from mixpref.active.pool import make_pool
from mixpref.data.arrays import ComparisonArrays
from mixpref.data.synthetic import SyntheticPopulation, SyntheticTruth
from mixpref.reporting import Report, new_figure

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "lib"))
from optimal_design import population_design_ratio  # noqa: E402

POP_OBJECTIVES = ["random", "uncertainty", "reward", "type", "decision", "prediction"]
COLORS = {"random": "0.4", "uncertainty": "tab:orange", "reward": "tab:blue", "type": "tab:green", "decision": "tab:red", "prediction": "tab:purple"}


def config(small):
    if small:
        return dict(seeds=[0], pop=dict(n_types=2, dim=8, n_annotators=10, n_prompts=10, responses_per_prompt=6),
                     pool=300, test=200, budget=60, step=30, restarts=1, draws=16, population_draws=16,
                     onboard=dict(n_new=4, dim=16, n_annotators=40, per=30, pool=100, max_q=40),
                     decision=dict(n_prompts=6, n_annotators=12, pool=300, budget=60, step=30, seeds=[0], logit_scale=1.5),
                     ukp=dict(topics=2, budget=100, step=50, seeds=[0]),
                     real=dict(seeds=[0], pop=dict(dim=8, per=6, prompts=4, n_annotators=10, n_types=2),
                               variants=[("d = 4", dict(dim=4))]))
    return dict(seeds=[0, 1, 2], pop=dict(n_types=3, dim=32, n_annotators=30, n_prompts=50, responses_per_prompt=10),
                # population learning scores with 128 posterior draws: BALD is a Monte Carlo estimate of a mutual
                # information, and with 64 its noise cost labels (seed-averaged saving of "reward": isotropic
                # 0.97 -> 0.75, real embeddings 0.60 -> 0.55; 256 draws: no further gain)
                pool=10000, test=1500, budget=1000, step=100, restarts=2, draws=64, population_draws=128,
                onboard=dict(n_new=60, dim=64, n_annotators=150, per=60, pool=300, max_q=150),
                decision=dict(n_prompts=30, n_annotators=60, pool=8000, budget=1500, step=250, seeds=[0, 1, 2],
                              logit_scale=1.5),
                ukp=dict(topics=8, budget=2000, step=200, seeds=[0, 1]),
                # 6 seeds: a curve here takes seconds; the first 3 are the acceptance's
                real=dict(seeds=[0, 1, 2, 3, 4, 5], pop=dict(dim=32, per=25, n_annotators=30, n_types=3),
                          # 1e: one change at a time
                          variants=[("d = 16", dict(dim=16)), ("d = 64", dict(dim=64)),
                                    ("60 annotators", dict(n_annotators=60)), ("2 types", dict(n_types=2))]))


def labels_to_reach(curve, target):
    """Labels at which ``curve`` (n_labels, value) first reaches ``target`` (linear between rounds; NaN: never)."""
    n, v = curve["n_labels"].to_numpy(float), curve["value"].to_numpy(float)
    hit = np.flatnonzero(v >= target)
    if not len(hit):
        return np.nan
    i = hit[0]
    if i == 0:
        return n[0]
    return n[i - 1] + (target - v[i - 1]) / (v[i] - v[i - 1]) * (n[i] - n[i - 1])


def saving_table(curves, metric, budget):
    """Per seed and objective: labels to reach random's full-budget value of ``metric``, as a fraction of the budget."""
    rows = []
    for seed, part in curves.groupby("seed"):
        rand = part[part.objective == "random"]
        target = float(rand[rand.n_labels == rand.n_labels.max()][metric].iloc[0])
        for obj, c in part.groupby("objective"):
            n = labels_to_reach(c.rename(columns={metric: "value"}), target)
            rows.append({"seed": seed, "objective": obj, "target": target, "labels": n, "fraction_of_budget": n / budget})
    table = pd.DataFrame(rows)
    summary = table.groupby("objective")["fraction_of_budget"].agg(["median", "min", "max", "size"]).rename(columns={"size": "count"}).reset_index()
    summary["reached"] = table.groupby("objective")["labels"].apply(lambda s: int(s.notna().sum())).to_numpy()
    # median over all seeds, a seed that never reaches the target counting as more than the budget (inf)
    summary["median_all_seeds"] = table.groupby("objective")["fraction_of_budget"].apply(
        lambda s: s.fillna(np.inf).median()).to_numpy()
    # the same on the seed-averaged curves: the mean curve of each objective vs the mean random curve's final value
    mean = curves.groupby(["objective", "n_labels"], as_index=False)[metric].mean()
    rand = mean[mean.objective == "random"]
    target = float(rand[rand.n_labels == rand.n_labels.max()][metric].iloc[0])
    averaged = {obj: labels_to_reach(c.rename(columns={metric: "value"}), target) / budget
                for obj, c in mean.groupby("objective")}
    summary["seed_averaged"] = summary["objective"].map(averaged)
    return table, summary


def plot_curves(report, curves, metric, name, title, ylabel):
    fig, ax = new_figure(6.5, 4.0)
    for obj, part in curves.groupby("objective"):
        stats = part.groupby("n_labels")[metric].agg(["mean", "min", "max"])
        ax.plot(stats.index, stats["mean"], label=obj, color=COLORS.get(obj))
        ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.15, color=COLORS.get(obj))
    ax.set_xlabel("labels")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    report.figure(fig, name, f"{title} (line: mean over seeds; band: min-max)")


# ---------------------------------------------------------------------------- 1. population learning
def isotropic_population(cfg):
    return lambda seed: mp.synthetic.population(logit_sd=2.0, comparisons_per_annotator=2, random_state=seed, **cfg["pop"])


_EMBEDDINGS = {}


def real_embedding_population(cache_dir, dim=32, per=25, prompts=None, n_annotators=30, n_types=3):
    """Seed -> a population of types drawn on real text embeddings: UKPConvArg1's arguments (the first ``per``
    of each topic/stance, the first ``prompts`` of them or all 32), MiniLM embeddings reduced by PCA to ``dim``."""
    from sklearn.decomposition import PCA

    # the arguments are embedded once per selection; only the PCA depends on dim
    key = (cache_dir, per, prompts)
    if key not in _EMBEDDINGS:
        data = mp.datasets.load("ukpconvarg1")
        keep = sorted(data.prompts["prompt_id"])[: prompts or len(data.prompts)]
        data = data.select(prompts=keep)
        ids = [r for p in keep for r in data.responses.loc[data.responses["prompt_id"] == p, "response_id"].iloc[:per]]
        emb = mp.TextEncoder("minilm", cache_dir=cache_dir).encode_data(data)
        _EMBEDDINGS[key] = (np.asarray(emb.embeddings, dtype=np.float64)[emb.positions(ids)], len(keep))
    full, n_prompts = _EMBEDDINGS[key]
    E = PCA(n_components=dim, random_state=0).fit_transform(full)
    return lambda seed: mp.synthetic.population(n_types=n_types, n_annotators=n_annotators, comparisons_per_annotator=2,
                                                logit_sd=2.0, n_prompts=n_prompts, responses_per_prompt=per,
                                                embeddings=E, random_state=seed)


def design_bounds(cfg, make_population):
    """Per seed: the fraction of random's labels the truth-optimal design needs (``lib/optimal_design.py``)."""
    rows = []
    for seed in cfg["seeds"]:
        pop = make_population(seed)
        bound = population_design_ratio(pop, truth_pool(pop, cfg["pool"], random_state=seed + 100),
                                        truth_pool(pop, cfg["test"], random_state=seed + 200))
        rows.append({"seed": seed, **bound})
    return pd.DataFrame(rows)


def real_variants(cfg, args, run, objectives=("random", "reward", "prediction")):
    """Section 1e: the real-embedding population with one setting changed at a time; per variant and objective
    the saving (all-seed median, seed-averaged curve, seeds that reach random's final LL) and the design bound."""
    rows = []
    for label, change in cfg["real"]["variants"]:
        vcfg = {**cfg, "seeds": cfg["real"]["seeds"]}
        make = real_embedding_population(args.cache_dir, **{**cfg["real"]["pop"], **change})
        slug = label.replace(" ", "").replace("=", "")
        curves = population_learning(vcfg, run, curve_dir=Path(args.out) / "population_real_variants" / slug,
                                     reuse=args.reuse_curves, objectives=objectives, make_population=make)
        summary = saving_table(curves, "log_likelihood", cfg["budget"])[1].set_index("objective")
        bound = float(design_bounds(vcfg, make).ratio.median())
        for obj in objectives:
            if obj != "random":
                r = summary.loc[obj]
                rows.append({"variant": label, "objective": obj, "median_all_seeds": r.median_all_seeds,
                             "seed_averaged": r.seed_averaged, "reached": int(r.reached), "seeds": int(r["count"]),
                             "design_bound": bound})
    return pd.DataFrame(rows)


def population_learning(cfg, run, curve_dir=None, reuse=False, objectives=POP_OBJECTIVES, make_population=None):
    """Curves of every (seed, objective); each is also saved to ``curve_dir`` (if given) as it finishes, and
    ``reuse`` reads a saved one instead of recomputing it (so that seeds can run in separate processes and
    one last process assembles the report). ``make_population``: seed -> population (default: isotropic)."""
    make_population = make_population or isotropic_population(cfg)
    curves = []
    for seed in cfg["seeds"]:
        pop = make_population(seed)
        pool = test = model = None
        for obj in objectives:
            cached = None if curve_dir is None else Path(curve_dir) / f"curve_seed{seed}_{obj}.csv"
            t0 = time.perf_counter()
            if reuse and cached is not None and cached.exists():
                c = pd.read_csv(cached)
            else:
                if pool is None:
                    pool = truth_pool(pop, cfg["pool"], random_state=seed + 100)
                    test = truth_pool(pop, cfg["test"], random_state=seed + 200)
                    model = mp.MixtureBT(n_types=len(pop.truth.weights), n_restarts=cfg["restarts"],
                                         inference="laplace", n_samples=cfg["draws"], random_state=seed)
                c = simulate(model, pool, pop.features, objective=obj, budget=cfg["budget"], step=cfg["step"],
                             n_initial=cfg["step"], test=test, labels=pop.truth.annotator_types, random_state=seed,
                             n_draws=cfg["draws"])
                c["seed"] = seed
                if cached is not None:
                    with atomic_path(cached) as tmp:
                        c.to_csv(tmp, index=False)
            curves.append(c)
            print(f"population seed {seed} {obj}: LL {c.log_likelihood.iloc[-1]:.4f} ARI {c.ari.iloc[-1]:.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            for _, row in c.iterrows():
                run.log_metrics({f"{obj}.seed{seed}.log_likelihood": row.log_likelihood, f"{obj}.seed{seed}.ari": row.ari},
                                step=int(row.n_labels))
    return pd.concat(curves, ignore_index=True)


def selection_profile(cfg, pools, objectives=("random", "uncertainty", "reward", "type")):
    """What each objective asks for, with each pool size: the loop of ``simulate`` (same seeds, so the same
    rows), reading the asked rows it records. A check that it is the same loop: the final refit's held-out LL
    equals the study's curve. Per (seed, pool, objective), over the actively chosen labels (after the first
    random round): the median |true logit difference| of the asked pair for the asked annotator (small:
    near-ties), the median spread of the three true types' logit differences (large: pairs the types disagree
    on), labels per annotator (min-max, coefficient of variation) and the share of labels on a pair already
    asked (of any annotator)."""
    rows = []
    make_population = isotropic_population(cfg)
    for seed in cfg["seeds"]:
        pop = make_population(seed)
        types = pop.truth.annotator_types.to_numpy()
        test = truth_pool(pop, cfg["test"], random_state=seed + 200)
        for pool_n in pools:
            pool = truth_pool(pop, pool_n, random_state=seed + 100)
            a = pool.arrays
            diff = pop.truth.rewards[:, a.a] - pop.truth.rewards[:, a.b]  # (type, row)
            own = np.abs(diff[types[a.annotator], np.arange(len(a.y))])
            disagree = diff.max(axis=0) - diff.min(axis=0)
            model = mp.MixtureBT(n_types=len(pop.truth.weights), n_restarts=cfg["restarts"], inference="laplace",
                                 n_samples=cfg["draws"], random_state=seed)
            for obj in objectives:
                curve = simulate(model, pool, pop.features, objective=obj, budget=cfg["budget"], step=cfg["step"],
                                 n_initial=cfg["step"], test=test, random_state=seed, n_draws=cfg["draws"])
                q = np.asarray(curve.attrs["asked"][cfg["step"]:], dtype=np.int64)
                per_ann = np.bincount(a.annotator[q], minlength=len(types))
                pairs = pd.Series(list(zip(a.prompt[q], np.minimum(a.a[q], a.b[q]), np.maximum(a.a[q], a.b[q]))))
                rows.append({"seed": seed, "pool": pool_n, "objective": obj,
                             "median_abs_true_logit_diff": float(np.median(own[q])),
                             "median_type_disagreement": float(np.median(disagree[q])),
                             "annotator_labels_min": int(per_ann.min()), "annotator_labels_max": int(per_ann.max()),
                             "annotator_labels_cv": float(per_ann.std() / per_ann.mean()),
                             "repeated_pair_share": float(1 - pairs.nunique() / len(pairs)),
                             "final_log_likelihood": float(curve.log_likelihood.iloc[-1])})
                print(f"selection seed {seed} pool {pool_n} {obj}: {rows[-1]}", flush=True)
            rows.append({"seed": seed, "pool": pool_n, "objective": "(whole pool)",
                         "median_abs_true_logit_diff": float(np.median(own)),
                         "median_type_disagreement": float(np.median(disagree))})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- 2. onboarding
def aligned_types(model, truth, features):
    """Model type of each true type (Hungarian matching on reward correlation)."""
    from scipy.optimize import linear_sum_assignment

    r = model.rewards(features)
    K = r.shape[0]
    corr = np.corrcoef(np.vstack([r, truth.rewards]))[:K, K:]
    rows, cols = linear_sum_assignment(-corr)
    out = np.empty(K, dtype=int)
    out[cols] = rows
    return out


def onboarding(cfg, seed, run):
    oc = cfg["onboard"]
    pop = mp.synthetic.population(n_types=3, dim=oc["dim"], logit_sd=2.0, n_annotators=oc["n_annotators"],
                                  comparisons_per_annotator=oc["per"], random_state=seed)
    model = mp.MixtureBT(n_types=3, n_restarts=cfg["restarts"], random_state=seed).fit(pop.data, pop.features,
                                                                                        study=False)
    to_model = aligned_types(model, pop.truth, pop.features)
    rng = np.random.default_rng(seed + 7)
    rows = []
    for i in range(oc["n_new"]):
        true_type = int(rng.choice(3, p=pop.truth.weights))
        name = f"new{i}"
        pool = truth_pool(pop, oc["pool"], annotators=[name], types=[true_type], random_state=seed * 1000 + i)
        for obj in ("type", "random"):
            res = onboard(model, pool, pop.features, name, int(to_model[true_type]), objective=obj,
                          max_questions=oc["max_q"], random_state=seed * 1000 + i)
            rows.append({"annotator": name, "true_type": true_type, "objective": obj, "questions": res["questions"],
                         "final_posterior": res["posterior"][-1]})
    table = pd.DataFrame(rows)
    # not reached within the cap counts as more than the cap (so the median stays honest)
    q = table.assign(q=table.questions.fillna(np.inf))
    summary = q.groupby("objective").agg(median_questions=("q", "median"), mean_questions=("questions", "mean"),
                                         reached=("questions", lambda s: int(s.notna().sum())),
                                         annotators=("questions", "size")).reset_index()
    med = summary.set_index("objective")["median_questions"]
    ratio = float(med["type"] / med["random"])
    run.log_metrics({"onboarding.type_median": float(med["type"]), "onboarding.random_median": float(med["random"]),
                     "onboarding.ratio": ratio})
    return table, summary, ratio


# ---------------------------------------------------------------------------- 3. decisions
def decision_population(n_prompts, n_annotators, dim, logit_scale, seed):
    """3 types (0.40/0.35/0.25); half of the prompts a Condorcet cycle, the rest random candidate scores."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, 3)))
    directions = basis.T
    cyc = (2 - np.array([[0, 1, 2], [2, 0, 1], [1, 2, 0]])).T.astype(float)  # (candidate, type)
    scores = []
    for p in range(n_prompts):
        scores.append(cyc if p % 2 == 0 else rng.normal(size=(3, 3)) + rng.normal(size=(3, 1)))
    emb = np.concatenate([s @ directions for s in scores]) + 0.05 * rng.standard_normal((3 * n_prompts, dim))
    reward_vectors = logit_scale * directions
    rewards = (emb @ reward_vectors.T).T
    weights = np.array([0.4, 0.35, 0.25])
    types = rng.permutation(np.repeat(np.arange(3), np.round(weights * n_annotators).astype(int))[:n_annotators])
    pids = [f"p{p}" for p in range(n_prompts)]
    rids = [f"p{p}_r{j}" for p in range(n_prompts) for j in range(3)]
    prompts = pd.DataFrame({"prompt_id": pids, "text": [f"prompt {p}" + (" (cycle)" if p % 2 == 0 else "") for p in range(n_prompts)]})
    responses = pd.DataFrame({"response_id": rids, "prompt_id": np.repeat(pids, 3), "text": rids})
    annotators = pd.Index([f"a{i}" for i in range(len(types))])
    stub = ComparisonArrays(*(np.zeros(1, dtype=np.int64) for _ in range(3)), np.ones(1), np.zeros(1, dtype=np.int64))
    data = mp.PreferenceData(prompts, responses, annotators, stub, None)
    truth = SyntheticTruth(reward_vectors, weights, pd.Series(types, index=annotators), rewards)
    return SyntheticPopulation(data, mp.Features(rids, emb), truth)


def candidate_pairs(data):
    """Every pair of each prompt's candidates (so that the pool covers all candidates)."""
    rows = []
    for pid, group in data.responses.groupby("prompt_id", sort=False):
        ids = group["response_id"].tolist()
        rows += [(pid, a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
    return pd.DataFrame(rows, columns=["prompt_id", "response_a", "response_b"])


def support_identification(pop, pool_frame):
    """evaluate(model) -> mean over prompts of P(draw's Smith set = true support), and the share of prompts >= 0.9."""
    pool = make_pool(pool_frame, pop.features)
    true = belief_of(_TruthModel(pop), pop.features, [None] * len(pool))
    true_sets = outcome_codes(true, pool)[1][0]  # (G, M)

    def evaluate(model):
        b = belief_of(model, pop.features, [None] * len(pool), n_draws=200, need_draws=True)
        _, sets = outcome_codes(b, pool)
        prob = (sets == true_sets[None]).all(axis=2).mean(axis=0)  # (G,)
        return {"support_probability": float(prob.mean()), "prompts_identified": float((prob >= 0.9).mean())}

    return evaluate


class _TruthModel:
    """The ground truth seen as a fitted mixture (what belief_of reads)."""

    def __init__(self, pop):
        self.params_, self.weights_ = {}, pop.truth.weights
        self._r = pop.truth.rewards
        self.annotators_ = pd.Index([])
        self.posterior_samples_ = None

    def rewards(self, features):
        return self._r


def true_margins(pop):
    """(prompts, 3) |weighted majority margin| of each candidate pair under the truth (how close to a tie)."""
    r = pop.truth.rewards.reshape(3, -1, 3)  # (type, prompt, candidate): 3 candidates per prompt, in order
    m = np.einsum("k,kgij->gij", pop.truth.weights, np.tanh(0.5 * (r[..., :, None] - r[..., None, :])))
    iu = np.triu_indices(3, 1)
    return np.abs(m[:, iu[0], iu[1]])


def decisions(cfg, run, logit_scale=None):
    dc = cfg["decision"]
    logit_scale = dc["logit_scale"] if logit_scale is None else logit_scale
    curves, margins = [], []
    for seed in dc["seeds"]:
        pop = decision_population(dc["n_prompts"], dc["n_annotators"], 16, logit_scale, seed)
        closest = true_margins(pop).min(axis=1)
        margins.append({"seed": seed, "cycle_prompts_median_min_margin": float(np.median(closest[::2])),
                        "other_prompts_median_min_margin": float(np.median(closest[1::2])),
                        "prompts_min_margin_below_0.05": int((closest < 0.05).sum())})
        pool = truth_pool(pop, dc["pool"], random_state=seed + 100)
        evaluate = support_identification(pop, candidate_pairs(pop.data))
        model = mp.MixtureBT(n_types=3, n_restarts=cfg["restarts"], inference="laplace", n_samples=200, random_state=seed)
        for obj in ("random", "reward", "decision"):
            c = simulate(model, pool, pop.features, objective=obj, budget=dc["budget"], step=dc["step"],
                         n_initial=dc["step"], random_state=seed, n_draws=cfg["draws"], evaluate=evaluate)
            c["seed"] = seed
            curves.append(c)
            print(f"decision seed {seed} {obj}: support prob {c.support_probability.iloc[-1]:.3f}", flush=True)
            for _, row in c.iterrows():
                run.log_metrics({f"{obj}.seed{seed}.support_probability": row.support_probability}, step=int(row.n_labels))
    curves = pd.concat(curves, ignore_index=True)
    rows = []
    for (seed, obj), c in curves.groupby(["seed", "objective"]):
        rows.append({"seed": seed, "objective": obj,
                     "labels_to_0.9": labels_to_reach(c.rename(columns={"support_probability": "value"}), 0.9),
                     "final_support_probability": c.support_probability.iloc[-1]})
    return curves, pd.DataFrame(rows), pd.DataFrame(margins)


# ---------------------------------------------------------------------------- 4. UKPConvArg1 replay
def ukp_replay(cfg, args, run):
    uc = cfg["ukp"]
    data = mp.datasets.load("ukpconvarg1")
    keep = np.random.default_rng(0).choice(np.asarray(data.prompts["prompt_id"]), size=uc["topics"], replace=False)
    data = data.select(prompts=keep)
    features = mp.TextEncoder("minilm", cache_dir=args.cache_dir).encode_data(data)
    pool, test = data.split(test_size=0.2, random_state=0)
    model = mp.BradleyTerry(inference="laplace", n_samples=cfg["draws"])
    curves = []
    for seed in uc["seeds"]:
        for obj in ("random", "uncertainty", "reward", "decision"):
            t0 = time.perf_counter()
            c = simulate(model, pool, features, objective=obj, budget=uc["budget"], step=uc["step"],
                         n_initial=uc["step"], test=test, random_state=seed, n_draws=cfg["draws"])
            c["seed"] = seed
            curves.append(c)
            print(f"ukp seed {seed} {obj}: LL {c.log_likelihood.iloc[-1]:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            for _, row in c.iterrows():
                run.log_metrics({f"{obj}.seed{seed}.log_likelihood": row.log_likelihood}, step=int(row.n_labels))
    note = (f"{uc['topics']} of the 32 topic/stance prompts (drawn at random, seed 0): pool {len(pool.arrays):,} "
            f"judgments, test {len(test.arrays):,}")
    return pd.concat(curves, ignore_index=True), note


PART_ORDER = ["population", "population_selection", "population_real", "population_real_variants", "onboarding", "decisions", "decisions_clear", "ukp"]
# reward scale of the clear-cycle population: at 1.5 the cycles hinge on a pair whose weighted majority
# margin is ~0.02 (the 0.40 type's strong preference nearly cancels the two others' weaker ones);
# at 3.0 preferences are nearly votes and that margin is ~0.145
CLEAR_SCALE = 3.0


def write_report(report, out, part, mark, study):
    """Save this part's section (the report's paragraphs since ``mark``), then assemble report.md from every
    section written so far, in a fixed order: parts run in separate processes (or re-run alone) share one report.
    Population learning with another pool (``population_pool<N>``) follows the default pool's section."""
    out = Path(out)
    if part != "header":
        with atomic_path(out / f"section_{part}.md") as tmp:
            tmp.write_text("\n".join(report.parts[mark:]))
    pools = sorted((f.stem[len("section_"):] for f in out.glob("section_population_pool*.md")),
                   key=lambda name: int(name[len("population_pool"):]))
    order = [q for p in PART_ORDER for q in ([p] + pools if p == "population" else [p])]
    body = [(out / f"section_{p}.md").read_text() for p in order if (out / f"section_{p}.md").exists()]
    path = out / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(report.parts[:2] + body))
    study.log_artifact(path)
    return path


def verdict(summary, target=0.6):
    """The acceptance reading: does the best objective need <= ``target`` of random's labels (per seed, averaged)?"""
    s = summary[summary.objective != "random"].set_index("objective")
    best = s["seed_averaged"].fillna(np.inf).idxmin()
    r = s.loc[best]
    met = r.seed_averaged <= target and r.median_all_seeds <= target
    over = f"{r.median_all_seeds:.2f}x" if np.isfinite(r.median_all_seeds) else "beyond the budget"
    return (f"**Target <= {target}x of random's labels: {'met' if met else 'not met'}.** Best objective on the "
            f"seed-averaged curve: `{best}`, {r.seed_averaged:.2f}x; over the seeds: median {over} "
            f"(a seed that never reaches random's final LL counts as more than the budget), reached on "
            f"{int(r.reached)} of {int(r['count'])} seeds.")


def fmt_saving(summary):
    return ", ".join(f"{r.objective}: median {r['median']:.2f} (range {r['min']:.2f}-{r['max']:.2f}, reached "
                     f"{r.reached}/{r['count']}; all-seed median {r.median_all_seeds:.2f}; seed-averaged curve "
                     f"{r.seed_averaged:.2f})" for _, r in summary.iterrows())


def population_part(report, study, cfg, args, part, heading, objectives, make_population, params):
    """Run population learning for one setting and write its section: saving, the design bound, curves."""
    with study.run(part, params={"budget": cfg["budget"], "pool": cfg["pool"], "objectives": objectives,
                                 "seeds": cfg["seeds"], **params}) as run:
        curves = population_learning(cfg, run, curve_dir=Path(args.out) / part / "curves", reuse=args.reuse_curves,
                                     objectives=objectives, make_population=make_population)
        table, summary = saving_table(curves, "log_likelihood", cfg["budget"])
        bounds = design_bounds(cfg, make_population)
        run.log_metrics({"design_bound_median": float(bounds.ratio.median())})
        dropped = [o for o in POP_OBJECTIVES if o not in objectives]
        report.text(f"{heading}\nObjectives {', '.join(objectives)}"
                    + (f" (not run here: {', '.join(dropped)})" if dropped else "")
                    + f". Budget {cfg['budget']} labels ({cfg['step']} per round, the first {cfg['step']} random), pool "
                    f"{cfg['pool']} candidate (pair, annotator) rows, test {cfg['test']} comparisons, seeds {cfg['seeds']}. "
                    "Labels needed to reach random's held-out LL at the full budget, as a fraction of the budget (median "
                    "and range over the seeds that reach it; all-seed median: a seed that never reaches it counts as "
                    "more than the budget, inf; seed-averaged curve: the mean curve over seeds vs the mean random "
                    f"curve's final LL): {fmt_saving(summary)}.\n\n" + verdict(summary)
                    + f"\n\nBound: the best possible design (knowing the true parameters and types; asymptotic, see "
                    f"`studies/lib/optimal_design.py`) would need {bounds.ratio.median():.2f}x of random's labels (per seed "
                    f"{', '.join(f'{r:.3f}' for r in bounds.ratio)}; certified lower bounds "
                    f"{', '.join(f'{r:.3f}' for r in bounds.certified_lower)}). A target below it cannot be met in "
                    "expectation by any objective here (as far as the asymptotic argument goes).")
        report.table(summary, f"{part}_saving", "Fraction of the budget needed to match random's final held-out LL", ".3f")
        report.table(table, f"{part}_saving_by_seed", None, ".4g")
        report.table(bounds, f"{part}_design_bound", "Truth-optimal design: fraction of random's labels", ".4g")
        report.table(curves, f"{part}_curves", None, ".4g")
        plot_curves(report, curves, "log_likelihood", f"{part}_ll", "Held-out log-likelihood per comparison",
                    "mean log-likelihood")
        plot_curves(report, curves, "ari", f"{part}_ari", "ARI of the annotators' types", "ARI")
    return curves, table, summary, bounds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "active_learning"))
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "mixpref" / "features"))
    parser.add_argument("--parts", default="onboarding,decisions,decisions_clear,ukp,population,population_real,"
                                           "population_real_variants")
    parser.add_argument("--population-pool", type=int, default=None,
                        help="pool size (candidate (pair, annotator) rows) of population learning; another size than "
                             "the default is reported as a second setting, with its own files")
    parser.add_argument("--population-seeds", default=None, help="comma-separated seeds of population learning")
    parser.add_argument("--population-objectives", default=",".join(POP_OBJECTIVES))
    parser.add_argument("--reuse-curves", action="store_true",
                        help="population learning: read the (seed, objective) curves already saved instead of "
                             "recomputing them (seeds run in separate processes, one last run assembles)")
    args = parser.parse_args(argv)
    cfg = config(args.small)
    pcfg = {**cfg, "draws": cfg["population_draws"]}
    parts = set(args.parts.split(","))
    results = {}
    with mp.Study("active_learning", tracking_uri=args.tracking_uri, output_dir=args.out) as study:
        report = Report(args.out, "Active elicitation: which question, of whom, and what it saves", study)
        report.text(__doc__.split("\n\n", 1)[1].split("Run:")[0])
        if "onboarding" in parts:
            mark = len(report.parts)
            with study.run("onboarding", params=cfg["onboard"]) as run:
                table, summary, ratio = onboarding(cfg, 0, run)
                results["onboarding"] = (table, summary, ratio)
                report.text(f"## 2. Onboarding a new annotator\n{cfg['onboard']['n_new']} new annotators (types drawn "
                            f"with the population weights), each with a pool of {cfg['onboard']['pool']} candidate pairs, "
                            f"at most {cfg['onboard']['max_q']} questions. Median questions to a posterior >= 0.95 on the "
                            f"true type: type {summary.set_index('objective').loc['type', 'median_questions']:g}, random "
                            f"{summary.set_index('objective').loc['random', 'median_questions']:g}: ratio **{ratio:.2f}** "
                            "(target <= 0.4).")
                report.table(summary, "onboarding_summary", "Questions to identify a new annotator's type", ".3g")
                report.table(table, "onboarding_by_annotator", None, ".3g")
                fig, ax = new_figure(6.0, 3.5)
                cap = cfg["onboard"]["max_q"]
                for obj in ("type", "random"):
                    q = table[table.objective == obj].questions.fillna(cap + 1)
                    ax.hist(q, bins=np.arange(0, cap + 3, max(1, cap // 40)), alpha=0.6, label=obj, color=COLORS[obj])
                ax.set_xlabel(f"questions to posterior >= 0.95 (>{cap}: not reached)")
                ax.set_ylabel("annotators")
                ax.legend()
                report.figure(fig, "onboarding_questions", "Questions needed per new annotator")
            path = write_report(report, args.out, "onboarding", mark, study)
        for part, scale in (("decisions", cfg["decision"]["logit_scale"]), ("decisions_clear", CLEAR_SCALE)):
            if part not in parts:
                continue
            mark = len(report.parts)
            dc = {**cfg["decision"], "logit_scale": scale}
            stem = "decision" if part == "decisions" else "decision_clear"
            with study.run(part, params=dc) as run:
                curves, table, margins = decisions(cfg, run, logit_scale=scale)
                results[part] = (curves, table, margins)
                # not reached within the budget counts as more than the budget (so the median stays honest)
                labels = table.groupby("objective")["labels_to_0.9"]
                med = labels.apply(lambda x: x.fillna(np.inf).median())
                reached = labels.apply(lambda x: int(x.notna().sum()))
                final = table.groupby("objective")["final_support_probability"].median()
                title = ("## 3. Identifying the maximal lottery's support" if part == "decisions" else
                         "## 3b. The same with clear cycles (preferences twice as sharp)")
                report.text(f"{title}\n{dc['n_prompts']} prompts of 3 candidates "
                            f"(half of them a Condorcet cycle), {dc['n_annotators']} annotators, reward scale "
                            f"{scale:g}, pool {dc['pool']}, budget {dc['budget']}, seeds {dc['seeds']}; the support "
                            "posterior reads the Laplace draws of the rewards and of the type weights. Median labels "
                            "until the posterior probability of the true support, averaged over prompts, is >= 0.9: "
                            + ", ".join(f"{k}: {v:.0f} (reached {reached[k]}/{len(dc['seeds'])})" for k, v in med.items())
                            + " (a seed that never reaches it counts as more than the budget; inf: most never did); "
                            "median final probability: " + ", ".join(f"{k}: {v:.3f}" for k, v in final.items())
                            + ". How close the true population is to a tie on each prompt (the smallest |weighted "
                            "majority margin| over its three pairs):")
                report.table(margins, f"{stem}_margins", "Closest pairwise margin of the true population", ".3g")
                report.table(table, f"{stem}_labels", "Labels to identify the support (per seed)", ".4g")
                report.table(curves, f"{stem}_curves", None, ".4g")
                plot_curves(report, curves, "support_probability", f"{stem}_support",
                            f"P(true maximal-lottery support), mean over prompts (scale {scale:g})", "probability")
            path = write_report(report, args.out, part, mark, study)
        if "ukp" in parts:
            mark = len(report.parts)
            with study.run("ukp_replay", params=cfg["ukp"]) as run:
                curves, note = ukp_replay(cfg, args, run)
                table, summary = saving_table(curves, "log_likelihood", cfg["ukp"]["budget"])
                results["ukp"] = (curves, table, summary)
                report.text(f"## 4. Real-data replay: UKPConvArg1\n{note}; budget {cfg['ukp']['budget']}, seeds "
                            f"{cfg['ukp']['seeds']} (seeds change the initial labels). Fraction of the budget needed to "
                            f"match random's final held-out LL: {fmt_saving(summary)}.")
                report.table(summary, "ukp_saving", "UKPConvArg1: fraction of the budget to match random", ".3f")
                report.table(curves, "ukp_curves", None, ".4g")
                plot_curves(report, curves, "log_likelihood", "ukp_ll", "UKPConvArg1 held-out log-likelihood", "mean log-likelihood")
            path = write_report(report, args.out, "ukp", mark, study)
        objectives = args.population_objectives.split(",")
        if not set(objectives) <= set(POP_OBJECTIVES):
            raise SystemExit(f"--population-objectives: expected some of {POP_OBJECTIVES}")
        if "population" in parts:
            mark = len(report.parts)
            # another pool size is a second setting beside the default one: its own run, files and section
            alt = args.population_pool is not None and args.population_pool != cfg["pool"]
            setting = dict(pcfg)
            if args.population_pool is not None:
                setting["pool"] = args.population_pool
            if args.population_seeds:
                setting["seeds"] = [int(x) for x in args.population_seeds.split(",")]
            part = f"population_pool{setting['pool']}" if alt else "population"
            heading = (f"## 1b. Population learning with a larger pool ({setting['pool']:,} rows)" if alt
                       else "## 1. Population learning")
            results["population"] = population_part(report, study, setting, args, part, heading, objectives,
                                                     isotropic_population(pcfg), dict(setting["pop"]))
            path = write_report(report, args.out, part, mark, study)
        if "population_real" in parts:
            mark = len(report.parts)
            rcfg = {**pcfg, "seeds": cfg["real"]["seeds"]}
            make = real_embedding_population(args.cache_dir, **cfg["real"]["pop"])
            results["population_real"] = population_part(
                report, study, rcfg, args, "population_real",
                "## 1d. Population learning on real text embeddings (semi-synthetic)", objectives, make,
                {"features": "UKPConvArg1 MiniLM, PCA", **cfg["real"]["pop"]})
            path = write_report(report, args.out, "population_real", mark, study)
        if "population_real_variants" in parts:
            mark = len(report.parts)
            with study.run("population_real_variants", params={"variants": [v for v, _ in cfg["real"]["variants"]],
                                                               **cfg["real"]["pop"]}) as run:
                variants = real_variants(pcfg, args, run)
                results["population_real_variants"] = variants
                best = variants.groupby("variant")["seed_averaged"].min()
                report.text("## 1e. How much the saving depends on the population (real embeddings)\n"
                            "Section 1d's population with one setting changed at a time (embedding dimensions after "
                            "PCA, number of annotators, number of types), same budget, pool, test, model and seeds; "
                            "objectives random, reward and prediction. Best objective's fraction of random's labels on "
                            "the seed-averaged curve: " + ", ".join(f"{v} {x:.2f}x" for v, x in best.items())
                            + f"; at or below 0.6x on {int((best <= 0.6).sum())} of {len(best)} variants. The "
                            "truth-optimal design's bound per variant: " + ", ".join(
                                f"{v} {x:.2f}x" for v, x in variants.groupby("variant")["design_bound"].first().items())
                            + ".")
                report.table(variants, "population_real_variants", "Fraction of random's labels, per variant", ".3g")
            path = write_report(report, args.out, "population_real_variants", mark, study)
        if "population_selection" in parts:
            mark = len(report.parts)
            pools = [cfg["pool"], 5 * cfg["pool"]]
            with study.run("population_selection", params={"pools": pools, "budget": cfg["budget"]}):
                profile = selection_profile(pcfg, pools)
                results["population_selection"] = profile
                report.text(f"## 1c. What the objectives ask for, pool {pools[0]:,} vs {pools[1]:,}\n"
                            "The loop of population learning again (same seeds, so the same rows are asked), recording "
                            "the asked rows. Over the actively chosen labels (after the first random round): the median "
                            "|true logit difference| of the asked pair for the asked annotator (small: near-ties), the "
                            "median spread of the three true types' logit differences on the pair (large: a pair the "
                            "types disagree on), labels per annotator (min, max, coefficient of variation) and the share "
                            "of labels on a pair already asked (of any annotator). `final_log_likelihood` equals the "
                            "curve's last point (a check that it is the same loop); `(whole pool)`: the pool's medians.")
                mean = profile.groupby(["objective", "pool"], as_index=False)[
                    ["median_abs_true_logit_diff", "median_type_disagreement", "annotator_labels_cv",
                     "repeated_pair_share"]].mean()
                report.table(mean, "population_selection_summary", "What is asked (mean over seeds)", ".3g")
                m = mean.set_index(["objective", "pool"])
                moves = "; ".join(
                    f"`{o}` type disagreement {m.loc[(o, pools[0]), 'median_type_disagreement']:.2f} -> "
                    f"{m.loc[(o, pools[1]), 'median_type_disagreement']:.2f}, labels-per-annotator CV "
                    f"{m.loc[(o, pools[0]), 'annotator_labels_cv']:.2f} -> {m.loc[(o, pools[1]), 'annotator_labels_cv']:.2f}, "
                    f"repeated pairs {m.loc[(o, pools[0]), 'repeated_pair_share']:.2f} -> "
                    f"{m.loc[(o, pools[1]), 'repeated_pair_share']:.2f}" for o in ("type", "reward"))
                cols = ["median_type_disagreement", "annotator_labels_cv", "repeated_pair_share"]
                further = all(m.loc[(o, pools[1]), c] > m.loc[(o, pools[0]), c] for o in ("type", "reward") for c in cols)
                report.text(f"Pool {pools[0]:,} -> {pools[1]:,}: {moves}." if not further else
                            f"Reading: with the larger pool, `type` and `reward` concentrate further on pairs the types "
                            f"disagree on, on fewer annotators and on repeated pairs ({moves}); that identifies the "
                            "types but covers the reward differences of random held-out rows worse (sampling bias), "
                            "so the held-out LL does not improve. `uncertainty` asks near-ties and spreads labels "
                            "over annotators about like random.")
                report.table(profile, "population_selection", None, ".4g")
            path = write_report(report, args.out, "population_selection", mark, study)
        if "report" in parts:
            # re-assemble report.md from the sections on disk (parts run in separate processes)
            path = write_report(report, args.out, "header", len(report.parts), study)
        if not parts & (set(PART_ORDER) | {"report"}):
            raise SystemExit(f"--parts: expected some of {PART_ORDER}")
    print(f"report: {path}")
    return results


if __name__ == "__main__":
    main()
