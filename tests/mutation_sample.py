"""The mutation sample of tests/MUTATION.md: which mutants to run, and the per-module table.

Not a test module (pytest does not collect it). Running every mutant of the core modules
(about 8,600) takes many hours on two cores, so MUTATION.md scores a uniform random sample
of each module's mutants (seeded, so anyone draws the same sample from the same sources;
:data:`SIZES` per module, 30 by default)::

    .venv/bin/mutmut run --max-children 1 $(.venv/bin/python tests/mutation_sample.py names)
    .venv/bin/mutmut run --max-children 1 $(.venv/bin/python tests/mutation_sample.py todo --survivors)
    .venv/bin/python tests/mutation_sample.py report      # the table, from mutants/*.meta

``todo`` lists only the sampled mutants without a valid result (never run, or their function
changed since; ``--survivors``: the surviving ones too). ``report`` gives each module's kill
rate with a one-sided 95% Clopper-Pearson lower bound, and the mutant-weighted overall rate.

``names`` lists mutmut's own mutant names for the files of ``[tool.mutmut] only_mutate``
(generated with mutmut's mutator, without running anything) and draws ``N`` per module
(the inference package counts as one module). ``report`` reads the results mutmut stored
under mutants/ and counts the survivors listed in :data:`EQUIVALENT` as equivalent, each
with the reason; every other survivor counts against the score.
"""

from __future__ import annotations

import collections
import fnmatch
import glob
import json
import random
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = 16

_K = "mixpref.aggregation.kemeny.x_kemeny_top_scores__mutmut_"
_SP = "mixpref.aggregation.selfplay.x__enumerate_supports__mutmut_"
# survivors that cannot change a result a user can observe, with the reason (see MUTATION.md)
EQUIVALENT = {
    _K + "52": "stepping by 1 instead of `chunk` recomputes overlapping chunks with the same values",
    _K + "25": "every `popcount != size` layer relaxes all subsets; the m passes still make the subsets of size "
               "m-1 exact (Bellman-Ford order instead of layer order), so f is unchanged",
    _K + "28": "the extra size-0 layer holds only the empty set, which contains no candidate: no update",
    _K + "89": "for antisymmetric margins (the documented input) `f[S-i] - col[i]` adds margin_ij, i.e. builds each "
               "ordering by putting i on top instead of at the bottom; both enumerate every ordering of S",
    _K + "46": "only the chunk size (a memory cap) changes",
    "mixpref.aggregation.profile_checks.x__pad_ragged__mutmut_46": "`slice(m)` is `slice(0, m)`",
    "mixpref.aggregation.registry.x__load_rules__mutmut_1": "importing an already imported module again is a no-op",
    "mixpref.aggregation.profile_checks.x_build_texts__mutmut_5": "`np.full(shape, None)` is an object array anyway",
    "mixpref.models._engine.x_pyro_model__mutmut_94": "device placement only: identical on the CPU (no GPU here)",
    "mixpref.models.inference.linear_lbfgs.xǁLinearObjectiveǁalong__mutmut_4": "device placement only: identical on "
        "the CPU (no GPU here)",
    "mixpref.models.inference.linear_lbfgs.xǁLinearObjectiveǁvalue_grad__mutmut_80": "device placement only: "
        "identical on the CPU (no GPU here)",
    "mixpref.models._engine.x_init_params__mutmut_66": "zeros are zeros in any dtype; the value is cast to the "
        "fit's dtype on the next line",
    "mixpref.models.inference.laplace.x__lowrank_displacements__mutmut_13": "scipy's LinearOperator without a dtype "
        "infers it from one matvec, which returns float64: the same operator",
    "mixpref.models.inference.laplace.x__log_density__mutmut_4": "device placement only: identical on the CPU (no "
        "GPU here)",
    "mixpref.models.inference.optimizers.x_lbfgs__mutmut_27": "an L-BFGS history of 31 instead of 30 pairs changes "
        "the path, not the optimum the fit converges to (within its tolerance)",
    "mixpref.models.inference.linear_lbfgs.xǁLinearObjectiveǁvalue__mutmut_6": "data(params, None) computes X @ "
        "theta.T itself (both objectives built on LinearObjective accept z=None): the same value, bit for bit",
    "mixpref.models.selection.x_select_n_types__mutmut_128": "only the empty-held-out-set branch changes, which "
        "split never produces",
    "mixpref.models.selection.x_select_n_types__mutmut_129": "only the empty-held-out-set branch changes, which "
        "split never produces",
    "mixpref.targets.dpo_pairs.x_to_dpo_pairs__mutmut_158": "the fill value at padded columns is multiplied by the "
        "padded candidates' probability, which the same line sets to 0: 1.0 x 0 = 0.0 x 0",
    "mixpref.models.inference.svi.x_fit_svi__mutmut_66": "pyro reads ignore_jit_warnings only in its JIT ELBOs; "
        "Trace_ELBO and TraceEnum_ELBO accept and ignore it",
    "mixpref.models.inference.linear_lbfgs.x_maximize__mutmut_13": "every parameter of a fit has the fit's dtype "
        "(init_params casts them all), so .to(None) and .to(theta's dtype) are the same",
    "mixpref.models.inference.linear_lbfgs.x_maximize__mutmut_49": "`and` instead of `or`: with max_iter <= 0 the "
        "loop does not run and the same point and value come back; with every gradient entry below 1e-7 the "
        "loop's first check (g.d = -|g|^2 > -1e-9, true below 10^5 parameters) stops it at 0 iterations",
    "mixpref.models.inference.linear_lbfgs.x_maximize__mutmut_98": "each al[i] is assigned in the loop before "
        "it is read, so its initial value never matters",
    "mixpref.models.inference.linear_lbfgs.x_maximize__mutmut_206": "re-anchoring Z = X theta every 26 instead "
        "of 25 iterations changes only float rounding (Z + t Zp equals X theta exactly in real arithmetic)",
    "mixpref.models.inference.initialization.x_group_score_vectors__mutmut_64": "`out = ...` instead of "
        "`out += ...` on the first term, when out is still all zeros",
    "mixpref.models.inference.map_fit.x_fit_map__mutmut_245": "the pooled single-type fit has no logits to copy, "
        "and p0['logits'] is set from the responsibilities a few lines later anyway",
    "mixpref.models.inference.map_fit.x_fit_map__mutmut_45": "last_seconds[0] is set by every run() before a "
        "trace entry reads it",
    "mixpref.models._engine.x_segment_logsumexp__mutmut_30": "include_self=True is scatter_reduce's default",
    "mixpref.models._engine.x_responsibility_term__mutmut_9": "obs_loglik with z=None computes X @ theta.T "
        "itself: the same value",
    "mixpref.models.inference.optimizers.x_lbfgs__mutmut_63": "torch's LBFGS sets state['n_iter'] on its first "
        "step, so the default of .get is never used",
    "mixpref.models.inference.optimizers.x_lbfgs__mutmut_22": "1e-7 is torch.optim.LBFGS's default tolerance_grad",
    "mixpref.models.inference.laplace.x__hvp_operator__mutmut_11": "device placement only: identical on the CPU "
        "(no GPU here)",
    "mixpref.models.inference.ensemble.x_weighted_problem__mutmut_22": "copies are coded g (M + 2) + c instead "
        "of g (M + 1) + c (c < M): distinct codes in the same order, and take() renumbers them densely",
    "mixpref.models.inference.ensemble.x_weighted_problem__mutmut_38": "only problem.level == 'observation' is "
        "ever tested (group_loglik), so None acts as 'annotator'",
    "mixpref.models.selection.x_select_n_types__mutmut_84": "the held-out set is never empty (split refuses that), "
        "and then both branches give groups.max() + 1",
    "mixpref.models.selection.x_select_n_types__mutmut_85": "a minlength below groups.max() + 1 is ignored by bincount",
    "mixpref.models.selection.x_select_n_types__mutmut_121": "the held-out set is never empty: the same branch runs",
    "mixpref.models.selection.x_select_n_types__mutmut_127": "only the empty-held-out-set branch changes, which "
        "split never produces",
    "mixpref.aggregation.lp.x__bounds__mutmut_39": "the bound on the value variable only has to contain the optimum "
                                                   "(within [-span, span]); -3 span does as well as -2 span",
    "mixpref.aggregation.lp.x_maxmin_lp__mutmut_11": "maximising 2t instead of t has the same optimal (x, t)",
    "mixpref.aggregation.lp.x_minmax_regret_lp__mutmut_1": "the default chunk size only groups prompts per HiGHS call",
    "mixpref.dpo.losses.x__warn_vanishing_unlikelihood__mutmut_9": "not observable under mutmut: the stack level only "
        "changes which frame the warning names, and mutmut's trampolines insert frames",
    "mixpref.dpo.losses.x__log1mexp__mutmut_7": "`>=` vs `>` at x = -log 2, where both formulas are accurate",
    "mixpref.dpo.losses.x__log1mexp__mutmut_10": "switching formulas at -log 3 instead of -log 2: both are accurate there",
    "mixpref.dpo.losses.x_token_unlikelihood__mutmut_9": "sum(+1) is sum(-1) on the documented (n, T) input",
    "mixpref.features.cache.xǁVectorCacheǁlocate__mutmut_10": "`np.full(n, -1, dtype=None)` infers int64 from -1",
    "mixpref.features.cache.xǁVectorCacheǁlocate__mutmut_36": "numpy reads sort kinds case-insensitively",
    "mixpref.targets.dpo_pairs.x__lottery_arrays__mutmut_60": "numeric scores (the documented input) give the same "
        "values with or without the float64 cast",
    "mixpref.targets.dpo_pairs.x__lottery_arrays__mutmut_74": "numeric pairwise matrices give the same values with "
        "or without the float64 cast",
    "mixpref.targets.dpo_pairs.x_resample_soft_labels__mutmut_43": "`>` vs `>=` differ only when a uniform draw equals "
        "p exactly (probability 0)",
}
# survivors that do change behaviour, with what a test would need (they count against the score)
NOT_KILLED = {
    "mixpref.models.inference.map_fit.x_fit_map__mutmut_180": "the distributed branch (comm) of the mixture "
        "starts; its tests (tests/distributed) are outside the mutation test folders",
    "mixpref.models.inference.map_fit.x_fit_map__mutmut_243": "restarts start from zero rewards instead of the "
        "pooled fit's; on the test data the rough M-step and LBFGS reach the same optimum, and no fast test "
        "reads a restart's starting point",
    "mixpref.models.inference.map_fit.x_fit_map__mutmut_275": "k-means seeds random_state * 1001 + r instead of "
        "* 1000 + r: identical at random_state 0, otherwise other (equally valid, reproducible) starts; no test "
        "pins which seed a restart uses",
    "mixpref.models._engine.x_init_params__mutmut_14": "the first MLP layer drawn in float32 and cast: the same "
        "distribution and still reproducible, but a seed gives a different start; no test pins the start values "
        "(only their scale)",
    "mixpref.models.inference.batching.x_batch_groups__mutmut_37": "the difference matrix is built lazily at the "
        "first objective evaluation instead of up front; the values are the same, and no fast test builds a "
        "diff-formulation problem under a torch.func transform, which the early build guards against",
    "mixpref.models.inference.svi.x_fit_svi__mutmut_31": "one process scales the Pyro model's global sites by 2 "
        "instead of 1 (the prior counted twice); needs a test of the SVI posterior's spread against a reference "
        "(e.g. the BT precision formula), which takes thousands of SVI steps",
}

# mutants stopped by hand after running far past their tests' time (mutmut's own timeout did not fire)
HUNG = {
    "mixpref.aggregation.profile.xǁProfileǁmajority__mutmut_12": "every tie becomes a loss (`< +tol`): the tests "
        "hung (stopped after 7.5 min; their clean run takes seconds)",
    "mixpref.models.inference.optimizers.x_lbfgs__mutmut_43": "`while done <= max_iter` asks LBFGS for 0 more steps "
        "forever once max_iter is reached: the tests hung (stopped after 7 min; they take about a minute)",
}

for _n, _why in {
    "6": "dtype", "10": "dtype", "18": "dtype", "22": "dtype", "132": "dtype", "135": "dtype", "145": "dtype",
    "148": "dtype", "152": "dtype", "155": "dtype",
}.items():
    EQUIVALENT[_SP + _n] = ("a float32 placeholder is promoted to float64 by torch.where/torch.cat with the "
                            "float64 solutions, so the values are the same")
for _n in ("14", "26", "282"):
    EQUIVALENT[_SP + _n] = "float('NAN') and float('INF') are float('nan') and float('inf')"
for _n in ("7", "11", "19", "23", "39", "41", "133", "136", "146", "149", "153", "156", "163", "166", "222", "225"):
    EQUIVALENT[_SP + _n] = ("device placement only: identical on the CPU (these machines have no GPU; a CUDA "
                            "run would tell them apart)")
for _n, _why in {
    "130": "+v instead of -v in the bordered system only negates the game value v; y is the same",
    "170": "a right-hand side of 2 scales y by 2, and y is renormalised",
    "215": "`>=` vs `>` at -1e-9 only matters for a solution entry exactly at -1e-9",
    "216": "supports whose solution has a zero entry are also found as smaller supports",
    "217": "any candidate with exploitability 0 is a maximal lottery, valid or clamped",
    "237": "valid solutions already sum to 1 (the bordered system's last row)",
    "245": "valid solutions already sum to 1",
    "32": "even supports add candidates, never a better one: the kept answer is the least exploitable, and any "
          "answer of exploitability 0 is a maximal lottery",
}.items():
    EQUIVALENT[_SP + _n] = _why


# mutants drawn per module: 30 each, more where a 30-mutant sample cannot show a lower bound of 85%
# (the largest modules, and those with survivors in the first sample); a larger draw extends the
# smaller one (random.sample picks the same first names for these population sizes)
DEFAULT_SIZE = 30
SIZES = {
    "mixpref.models.inference": 100,
    "mixpref.models._engine": 60,
    "mixpref.models.selection": 60,
    "mixpref.targets.dpo_pairs": 60,
}
CONFIDENCE = 0.95
DECIDED = ("killed", "survived", "no tests", "timeout", "segfault")


def _core_files():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mixpref").rglob("*.py"))
    return [f for f in files if any(fnmatch.fnmatch(f, pat) for pat in conf["only_mutate"])]


def _group(module):
    return "mixpref.models.inference" if module.startswith("mixpref.models.inference") else module


def _sources():
    """{module group: sorted mutant names}, {mutant name: hash of its function}, from the current sources."""
    from mutmut.mutation.file_mutation import mutate_file_contents
    from mutmut.utils.format_utils import get_mutant_name

    groups, hashes = collections.defaultdict(list), {}
    for path in _core_files():
        mutated = mutate_file_contents(path, (ROOT / path).read_text())
        for name in mutated.mutant_names:
            key = get_mutant_name(Path(path), name)
            groups[_group(key.rsplit(".", 1)[0])].append(key)
            hashes[key] = mutated.hash_by_function_name.get(name.rsplit("__mutmut_", 1)[0])
    return {g: sorted(v) for g, v in groups.items()}, hashes


def all_names():
    """{module group: sorted mutant names}, from mutmut's mutator on the current sources."""
    return _sources()[0]


def sample(groups, n=None):
    """The seeded sample: ``n`` mutants per module, or :data:`SIZES` (default 30) when ``n`` is None."""
    sizes = {g: n if n is not None else SIZES.get(g, DEFAULT_SIZE) for g in groups}
    return {g: random.Random(f"{SEED}:{g}").sample(names, min(sizes[g], len(names)))
            for g, names in sorted(groups.items())}


def _results():
    """Module groups, mutmut's status and the mutated function's hash of every mutant under mutants/."""
    from mutmut.stats import status_by_exit_code

    groups, status, hashes = collections.defaultdict(list), {}, {}
    for f in sorted(glob.glob(str(ROOT / "mutants/mixpref/**/*.meta"), recursive=True)):
        meta = json.loads(Path(f).read_text())
        module = None
        for key, code in meta["exit_code_by_key"].items():
            module = key.rsplit(".", 1)[0]
            groups[_group(module)].append(key)
            status[key] = status_by_exit_code[code]
        for fn, h in meta.get("hash_by_function_name", {}).items():
            if module is not None:
                hashes[f"{module}.{fn}"] = h
    return {g: sorted(v) for g, v in groups.items()}, status, hashes


def todo(n=None, survivors=False):
    """Sampled mutants (from the current sources) that mutmut has no valid result for.

    A result is stale when the mutated function changed since mutmut stored it (its hash
    differs); mutmut resets those itself when it regenerates the mutants. With
    ``survivors``, surviving mutants are listed too (to re-test them after new tests).
    """
    groups, hashes = _sources()
    _, status, old_hashes = _results()
    out = []
    for names in sample(groups, n).values():
        for key in names:
            fn = key.rsplit("__mutmut_", 1)[0]
            st = status.get(key, "not checked")
            stale = hashes.get(key) != old_hashes.get(fn)
            if key in HUNG:
                continue
            if stale or st not in DECIDED or (survivors and st in ("survived", "no tests") and key not in EQUIVALENT):
                out.append(key)
    return out


def lower_bound(killed, run, confidence=CONFIDENCE):
    """One-sided Clopper-Pearson lower confidence bound of a kill rate (killed of run)."""
    from scipy.stats import beta

    if run == 0:
        return float("nan")
    return 0.0 if killed == 0 else float(beta.ppf(1 - confidence, killed, run - killed + 1))


def report(n=None, show_diffs=True):
    groups, status, _ = _results()
    picked = sample(groups, n)
    # simultaneous bounds for the weighted overall rate: the 5% error split over the modules in
    # proportion to their weight in it (Bonferroni), so that all module bounds hold at once
    n_all = sum(len(groups[g]) for g in picked)
    print(f"| module | mutants | sampled | killed | survived | equivalent | timeout | not run | score | "
          f"{CONFIDENCE:.0%} lower bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    total, survivors = collections.Counter(), []
    weighted = collections.Counter()
    for g, pick in picked.items():
        c = collections.Counter()
        for key in pick:
            st = "timeout" if key in HUNG else status[key]
            if st in ("survived", "no tests"):
                st = "equivalent" if key in EQUIVALENT else "survived"
                survivors.append((key, st))
            c[st if st in ("killed", "survived", "equivalent", "timeout") else "not run"] += 1
        caught, run = c["killed"] + c["timeout"], c["killed"] + c["timeout"] + c["survived"]
        score = f"{caught / run:.0%}" if run else "-"
        low = f"{lower_bound(caught, run):.1%}" if run else "-"
        print(f"| {g} | {len(groups[g])} | {len(pick)} | {c['killed']} | {c['survived']} | {c['equivalent']} | "
              f"{c['timeout']} | {c['not run']} | {score} | {low} |")
        total.update(c)
        total["mutants"] += len(groups[g])
        total["sampled"] += len(pick)
        if run:
            weighted["rate"] += len(groups[g]) * caught / run
            level = 1 - (1 - CONFIDENCE) * len(groups[g]) / n_all
            weighted["low"] += len(groups[g]) * lower_bound(caught, run, level)
            weighted["mutants"] += len(groups[g])
    run = total["killed"] + total["timeout"] + total["survived"]
    print(f"| **all** (pooled sample) | {total['mutants']} | {total['sampled']} | {total['killed']} | "
          f"{total['survived']} | {total['equivalent']} | {total['timeout']} | {total['not run']} | "
          f"{(total['killed'] + total['timeout']) / max(run, 1):.0%} | |")
    if weighted["mutants"]:
        print(f"| **all** (weighted by mutants) | {total['mutants']} | | | | | | | "
              f"{weighted['rate'] / weighted['mutants']:.1%} | {weighted['low'] / weighted['mutants']:.1%} |")
    print()
    print(f"Lower bounds: one-sided {CONFIDENCE:.0%} Clopper-Pearson, scipy `beta.ppf({1 - CONFIDENCE:.2f}, killed, "
          f"survived + 1)` over killed + survived (equivalent mutants excluded). Weighted overall: each module's "
          f"rate weighted by its number of mutants; its bound weights the modules' simultaneous bounds "
          f"(Bonferroni: module g's bound at level 1 - {1 - CONFIDENCE:.2f} x mutants_g / all mutants, so all "
          f"hold together with probability >= {CONFIDENCE:.0%}).")
    print()
    for key, st in survivors:
        why = EQUIVALENT.get(key) or NOT_KILLED.get(key, "")
        print(f"- `{key}` ({st}){': ' + why if why else ''}")
        if show_diffs:
            diff = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "show", key], capture_output=True,
                                  text=True, cwd=ROOT).stdout
            for line in diff.splitlines():
                if line[:1] in "+-" and not line.startswith(("+++", "---")):
                    print(f"      {line}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    what, n = (args[0] if args else ""), (int(args[1]) if len(args) > 1 else None)
    if what == "names":
        print(" ".join(k for names in sample(all_names(), n).values() for k in names))
    elif what == "todo":
        print(" ".join(todo(n, survivors="--survivors" in sys.argv)))
    elif what == "report":
        report(n, show_diffs="--no-diffs" not in sys.argv)
    else:
        raise SystemExit("usage: mutation_sample.py names|todo|report [N] [--survivors] [--no-diffs]")
