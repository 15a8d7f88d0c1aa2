"""Apply each hand-written bug of issue 16 to a scratch copy of the tree and run the fast tests.

Not a test module (pytest does not collect it): a script that shows each listed bug fails at
least one test under ``-m "not slow"``. The working tree is never written: every bug is
applied to a fresh copy of mixpref/, tests/ and data/ in a temporary folder.

Usage (from the repository root)::

    python tests/reference/hand_mutants.py            # every bug
    python tests/reference/hand_mutants.py half_sign  # one

A bug whose code pattern no longer exists (the code moved or changed) is reported as
``pattern not found``: update its entry to the new code rather than dropping it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = "tests/models/test_models_reference.py"
INFERENCE = "tests/models/test_inference_reference.py"
RULES = "tests/aggregation/test_rules_reference.py"

# name: (file, code as written, the bug, fast tests that must catch it)
BUGS = {
    "half_sign": ("mixpref/models/_engine.py",
                  "return y * F.logsigmoid(d) + (1 - y) * F.logsigmoid(-d)",
                  "return y * F.logsigmoid(d) + (1 - y) * F.logsigmoid(d)", [MODELS]),
    "resp_no_weights": ("mixpref/models/_engine.py",
                        "return torch.softmax(gll + log_weights(spec, params, gll), dim=1)",
                        "return torch.softmax(gll, dim=1)", [MODELS]),
    "pl_padding": ("mixpref/models/_engine.py",
                   "vals = torch.where(valid, vals, torch.full_like(vals, -1e30))", "vals = vals", [MODELS]),
    "restarts_worst": ("mixpref/models/inference/map_fit.py",
                       "if best is None or value > best[1]:", "if best is None or value < best[1]:", [MODELS]),
    "dirichlet_conc_not_minus_1": ("mixpref/models/_engine.py", "(conc - 1) * lw.sum()", "conc * lw.sum()", [MODELS]),
    "dirichlet_no_normaliser": ("mixpref/models/_engine.py",
                                "+ math.lgamma(conc * K) - K * math.lgamma(conc)", "", [MODELS]),
    "normal_prior_no_normaliser": ("mixpref/models/_engine.py",
                                   "- p.numel() * (math.log(s) + 0.5 * math.log(2 * math.pi))", "", [MODELS]),
    "mlp_tanh_gelu": ("mixpref/models/_engine.py",
                      'params["b1"][:, None, :])', 'params["b1"][:, None, :], approximate="tanh")', [MODELS]),
    "pl_beta_ignored": ("mixpref/models/_engine.py", "r = r / spec.beta", "r = r", [MODELS]),
    "init_scores_lose_sign": ("mixpref/models/inference/initialization.py",
                              "(g_d,) = torch.autograd.grad(E.pair_loglik(spec, single, d, problem).sum(), [d])",
                              "(g_d,) = torch.autograd.grad(E.pair_loglik(spec, single, d, problem).sum(), [d]); "
                              "g_d = g_d.abs()", [INFERENCE]),
    "init_random_labels": ("mixpref/models/inference/initialization.py", "    return best\n",
                           "    return np.random.default_rng(seed).integers(0, K, size=len(best))\n", [INFERENCE]),
    "ensemble_no_resample": ("mixpref/models/inference/ensemble.py",
                             "groups = rng.integers(0, problem.n_groups, size=problem.n_groups)",
                             "groups = np.arange(problem.n_groups)", [INFERENCE]),
    "borda_no_half_tie": ("mixpref/aggregation/rules.py",
                          "w = _half_tie(profile.pooled())", "w = profile.pooled()", [RULES]),
    "margin_tol_1e-2": ("mixpref/aggregation/profile.py", "MARGIN_TOL = 1e-9", "MARGIN_TOL = 1e-2", [RULES]),
    "flip_no_winprob_swap": ("mixpref/targets/dpo_pairs.py", '("win_prob_chosen", "win_prob_rejected"),', "",
                             ["tests/targets/test_soft_labels_reference.py"]),
    "flip_no_margin_negation": ("mixpref/targets/dpo_pairs.py", 'out["margin"] = np.where(flip, -m, m)',
                                'out["margin"] = m', ["tests/targets/test_soft_labels_reference.py"]),
    "labels_any_number": ("mixpref/data/labels.py", "return v if v in (0.0, 0.5, 1.0) else None", "return v",
                          ["tests/data/test_labels_reference.py"]),
    "encoder_cache_no_model": ("mixpref/features/text_encoder.py",
                               '"model": model_source.model_fingerprint(r["path"]),', "",
                               ["tests/features/test_cache_reference.py"]),
    "scorer_cache_no_model": ("mixpref/features/sequence_scorer.py",
                              '"model": model_source.model_fingerprint(self.path_),', "",
                              ["tests/features/test_cache_reference.py"]),
}


def _copy_tree(dest: Path) -> None:
    for name in ("mixpref", "tests", "data", "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, dest / name)


def run(name: str) -> bool:
    """Apply bug ``name`` to a scratch copy; True when at least one of its tests fails."""
    path, old, new, tests = BUGS[name]
    with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        target = tree / path
        text = target.read_text() if target.exists() else ""
        if text.count(old) != 1:
            print(f"{name}: pattern not found ({text.count(old)} matches in {path})")
            return False
        target.write_text(text.replace(old, new))
        proc = subprocess.run([sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider", "-m", "not slow",
                               "--tb=no", "-rf"], cwd=tree, capture_output=True, text=True)
    failed = [line.split(" ", 1)[1].split(" - ")[0] for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    print(f"{name}: {'caught' if failed else 'ALIVE'} ({len(failed)} failing)")
    for test in failed:
        print(f"    {test}")
    return bool(failed)


if __name__ == "__main__":
    names = sys.argv[1:] or list(BUGS)
    results = [run(n) for n in names]
    sys.exit(0 if all(results) else 1)
