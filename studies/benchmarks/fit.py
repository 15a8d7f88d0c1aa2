"""Benchmark: fitting a mixture of Bradley–Terry annotator types.

In one run, on the same synthetic population and the same held-out split:

* mixpref ``MixtureBT`` MAP, default settings (LBFGS on the exact marginal, score-vector
  k-means starts, ``--restarts`` restarts), and with ``--restarts 1``;
* mixpref ``MixtureBT`` with ``optimizer="adam"`` for ``--adam-steps`` steps;
* a hand-written torch baseline: the same exact marginal likelihood (logsumexp over types of
  each annotator's summed log-likelihood) from a difference matrix, full batch, Adam for the
  same number of steps, random start; and the same with LBFGS;
* the same model as a plain Pyro program (TraceEnum_ELBO or JitTraceEnum_ELBO, AutoDelta,
  Adam) for the same number of steps;
* hand-written hard EM as MaxMin-RLHF does it (assign each annotator to its most likely
  type, refit each type by logistic regression, repeat);
* single Bradley–Terry: sklearn ``LogisticRegression`` and mixpref ``BradleyTerry``.

Reports wall time, time per step, held-out log-likelihood per comparison (held-out
comparisons of training annotators, predicted with their posterior type) and ARI.

``--shape fresh`` (or ``both``) measures the frontier-data shape instead (every comparison
has two fresh responses, ``fresh_data.py``): ``MixtureBT`` default and with one restart
against hand-written soft EM (MaxMin-RLHF style: random responsibilities, LBFGS M-steps on
the difference matrix, one start and best of 5), with the peak resident memory of the
default fit, and prints the ratios.

Usage::

    python studies/benchmarks/fit.py                      # N=200k, d=384, 2k annotators, K=3, CPU
    python studies/benchmarks/fit.py --n 1000000 --annotators 10000 --types 4 --device cuda
    python studies/benchmarks/fit.py --n 20000 --annotators 200 --adam-steps 50   # smoke
    python studies/benchmarks/fit.py --shape fresh --threads 1       # fresh responses, N=200k
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000, help="total comparisons (20%% held out)")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--annotators", type=int, default=2000)
    p.add_argument("--types", type=int, default=3)
    p.add_argument("--logit-sd", type=float, default=1.15)
    p.add_argument("--adam-steps", type=int, default=350)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument("--em-iters", type=int, default=10)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip", default="", help="comma-separated fitter names to skip")
    p.add_argument("--json", default=None, help="write the results table as JSON here")
    p.add_argument("--shape", default="shared", choices=["shared", "fresh", "both"],
                   help="responses shared by comparisons (mp.synthetic), fresh (two new ones each), or both")
    p.add_argument("--fresh-logit-sd", type=float, default=1.16)
    p.add_argument("--em-starts", type=int, default=5, help="soft EM: best of this many random starts")
    return p.parse_args(argv)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------- shared evaluation
def heldout(theta, log_w, train, test, phi, n_ann, device, hard=None):
    """Held-out LL per comparison and posterior assignments, for any fitter's (theta, log w).

    Held-out comparisons are predicted with the annotator's posterior over types given their
    training comparisons, or, with ``hard`` (an assignment per annotator), with that type alone.
    """
    theta = torch.as_tensor(theta, dtype=torch.float64, device=device)
    log_w = torch.as_tensor(log_w, dtype=torch.float64, device=device)
    phi64 = phi.double()

    def ll(arr):
        r = phi64 @ theta.T
        d = r[torch.as_tensor(arr.a, device=device)] - r[torch.as_tensor(arr.b, device=device)]
        s = torch.as_tensor(2 * arr.y - 1, dtype=torch.float64, device=device)[:, None]
        return torch.nn.functional.logsigmoid(s * d)

    ltr = ll(train.arrays)
    g = torch.as_tensor(train.arrays.annotator, device=device)
    gll = torch.zeros(n_ann, theta.shape[0], dtype=torch.float64, device=device).index_add(0, g, ltr)
    logpost = torch.log_softmax(gll + log_w, dim=1)
    if hard is not None:
        logpost = torch.full_like(logpost, -1e30)
        logpost[torch.arange(n_ann, device=device), torch.as_tensor(hard, device=device)] = 0.0
    lte = ll(test.arrays)
    gt = torch.as_tensor(test.arrays.annotator, device=device)
    out = torch.logsumexp(logpost[gt] + lte, dim=1).mean()
    return float(out), logpost.argmax(1).cpu().numpy()


# ---------------------------------------------------------------------- hand-written baselines
def torch_marginal(X, y_sign, group, n_ann, K, steps, lr, seed, device, optimizer="adam"):
    """Hand-written exact-marginal mixture (difference matrix, full batch), random start."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    theta = (0.1 * torch.randn(K, X.shape[1], generator=gen)).to(device).requires_grad_(True)
    logits = torch.zeros(K, device=device, requires_grad=True)
    n = X.shape[0]

    def loss_fn():
        ll = torch.nn.functional.logsigmoid(y_sign[:, None] * (X @ theta.T))
        gll = torch.zeros(n_ann, K, device=device).index_add(0, group, ll)
        marg = torch.logsumexp(gll + torch.log_softmax(logits, 0), dim=1).sum()
        prior = -0.5 * (theta * theta).sum()
        return -(marg + prior) / n

    evals = 0
    if optimizer == "adam":
        opt = torch.optim.Adam([theta, logits], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            opt.step()
        evals = steps
    else:
        opt = torch.optim.LBFGS([theta, logits], lr=1, max_iter=steps, history_size=30, tolerance_grad=1e-7,
                                tolerance_change=1e-9, line_search_fn="strong_wolfe")

        def closure():
            nonlocal evals
            evals += 1
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss

        opt.step(closure)
    _sync(device)
    return theta.detach(), torch.log_softmax(logits.detach(), 0), evals


def torch_marginal_gather(phi, a, b, y_sign, group, n_ann, K, steps, lr, seed, device):
    """Hand-written exact-marginal mixture computing rewards per response and gathering (no difference matrix)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    theta = (0.1 * torch.randn(K, phi.shape[1], generator=gen)).to(device).requires_grad_(True)
    logits = torch.zeros(K, device=device, requires_grad=True)
    n = a.shape[0]
    opt = torch.optim.Adam([theta, logits], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        r = phi @ theta.T
        d = r.index_select(0, a) - r.index_select(0, b)
        ll = torch.nn.functional.logsigmoid(y_sign[:, None] * d)
        gll = torch.zeros(n_ann, K, device=device).index_add(0, group, ll)
        marg = torch.logsumexp(gll + torch.log_softmax(logits, 0), dim=1).sum()
        loss = -(marg - 0.5 * (theta * theta).sum()) / n
        loss.backward()
        opt.step()
    _sync(device)
    return theta.detach(), torch.log_softmax(logits.detach(), 0), steps


def hard_em(X, y, ann, n_ann, K, iters, seed):
    """MaxMin-RLHF-style hard EM: random assignment, per-type logistic regression, reassign."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    assign = rng.integers(0, K, size=n_ann)
    theta = np.zeros((K, X.shape[1]))
    s = 2 * y - 1
    for _ in range(iters):
        for k in range(K):
            rows = assign[ann] == k
            if rows.sum() < 2 or len(np.unique(y[rows])) < 2:
                continue
            theta[k] = LogisticRegression(fit_intercept=False, C=1.0, max_iter=200).fit(X[rows], y[rows]).coef_[0]
        ll = -np.logaddexp(0, -s[:, None] * (X @ theta.T))
        gll = np.zeros((n_ann, K))
        np.add.at(gll, ann, ll)
        new = gll.argmax(1)
        if (new == assign).all():
            break
        assign = new
    w = np.bincount(assign, minlength=K) / n_ann
    return theta, np.log(np.clip(w, 1e-12, None)), assign


def soft_em(X, y_sign, group, n_ann, K, seed, max_iters=200, tol=1e-7):
    """Hand-written soft EM (MaxMin-RLHF style): random responsibilities, then E-steps and LBFGS M-steps.

    The M-step maximises the responsibility-weighted log-likelihood plus the N(0, 1) prior
    over all K reward vectors at once, on the difference matrix ``X``; stops when the
    marginal objective per comparison gains less than ``tol``. Returns theta, log weights,
    the final objective per comparison and the number of EM iterations.
    """
    n = X.shape[0]
    rng = np.random.default_rng(seed)
    resp = torch.as_tensor(rng.dirichlet(np.ones(K), size=n_ann), dtype=X.dtype, device=X.device)
    theta = torch.zeros(K, X.shape[1], dtype=X.dtype, device=X.device, requires_grad=True)
    prev, it = -np.inf, 0
    for it in range(1, max_iters + 1):  # noqa: B007 - the count is returned
        log_w = torch.log(resp.mean(0).clamp_min(1e-12))
        r_obs = resp[group]
        opt = torch.optim.LBFGS([theta], lr=1, max_iter=100, history_size=30, tolerance_grad=1e-7,
                                tolerance_change=1e-9, line_search_fn="strong_wolfe")

        def closure(opt=opt, r_obs=r_obs):
            opt.zero_grad()
            ll = torch.nn.functional.logsigmoid(y_sign[:, None] * (X @ theta.T))
            loss = -((r_obs * ll).sum() - 0.5 * (theta * theta).sum()) / n
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            ll = torch.nn.functional.logsigmoid(y_sign[:, None] * (X @ theta.T))
            lp = torch.zeros(n_ann, K, dtype=X.dtype, device=X.device).index_add(0, group, ll) + log_w
            objective = float((torch.logsumexp(lp, 1).sum() - 0.5 * (theta * theta).sum()) / n)
            resp = torch.softmax(lp, 1)
        if objective - prev < tol:
            break
        prev = objective
    return theta.detach(), torch.log(resp.mean(0).clamp_min(1e-12)), objective, it


def peak_rss_gb():
    """Peak resident memory of this process so far (GB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def fresh_section(args, device):
    """Fresh responses: MixtureBT default and 1 restart against soft EM (1 start, best of 5), same run."""
    import mixpref as mp
    from sklearn.metrics import adjusted_rand_score

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fresh_data import fresh_population

    K = args.types
    t0 = time.perf_counter()
    data, feats, types = fresh_population(args.n, dim=args.dim, n_annotators=args.annotators, n_types=K,
                                          logit_sd=args.fresh_logit_sd, random_state=args.seed)
    train, test = data.split(by="observation", test_size=0.2, random_state=args.seed)
    n_ann = len(data.annotators)
    phi = torch.as_tensor(feats.embeddings).to(device)  # on the CPU: shares memory with the features
    has = np.bincount(train.arrays.annotator, minlength=n_ann) > 0
    print(f"\nfresh responses: {len(train)} train / {len(test)} test comparisons, {2 * args.n} responses "
          f"({feats.embeddings.nbytes / 1e9:.2f} GB float32), {n_ann} annotators, d={args.dim}, K={K}, "
          f"logit sd {args.fresh_logit_sd}; threads {torch.get_num_threads()} "
          f"({time.perf_counter() - t0:.1f} s to generate; peak RSS so far {peak_rss_gb():.2f} GB)", flush=True)
    rows = []

    def record(name, seconds, theta, log_w, note=""):
        ll, assign = heldout(theta, log_w, train, test, phi, n_ann, device)
        ari = adjusted_rand_score(types[has], assign[has])
        rows.append({"fitter": name, "wall_s": seconds, "heldout_ll": ll, "ari": ari, "note": note})
        print(f"{name:<52} {seconds:8.2f} s  held-out LL {ll:.4f}  ARI {ari:.3f}  {note}", flush=True)
        return rows[-1]

    out = {}
    if "mixpref" not in args.skip:
        for restarts in (args.restarts, 1):
            t = time.perf_counter()
            m = mp.MixtureBT(n_types=K, n_restarts=restarts, device=str(device), random_state=args.seed).fit(train, feats)
            sec = time.perf_counter() - t
            starts = sum(r["objective"] is not None for r in m.fit_trace_.restarts)
            out[restarts] = record(f"mixpref MixtureBT, {restarts} restart(s)", sec, m.params_["theta"],
                                   torch.log_softmax(m.params_["logits"].double(), 0),
                                   note=f"{starts} distinct start(s) fitted; formulation "
                                        f"{'diff' if len(train) <= 2 * args.n else 'gather'}")
    # soft EM starts from the same (data, features) as mixpref: building its difference matrix is charged to it
    tr = train.arrays
    t = time.perf_counter()
    X = (phi[torch.as_tensor(tr.a)] - phi[torch.as_tensor(tr.b)]).to(device)
    build_s = time.perf_counter() - t
    y_sign = torch.as_tensor(2 * tr.y - 1, dtype=X.dtype, device=device)
    group = torch.as_tensor(tr.annotator, device=device)
    best = None
    t_all = time.perf_counter()
    for start in range(args.em_starts):
        t = time.perf_counter()
        theta, lw, obj, iters = soft_em(X, y_sign, group, n_ann, K, seed=args.seed * 100 + start)
        sec = time.perf_counter() - t + build_s
        if start == 0:
            out["em1"] = record("hand-written soft EM, 1 random start", sec, theta, lw,
                                note=f"{iters} EM iterations (difference matrix {build_s:.2f} s included)")
        if best is None or obj > best[2]:
            best = (theta, lw, obj)
    if args.em_starts > 1:
        out["em5"] = record(f"hand-written soft EM, best of {args.em_starts} starts",
                            time.perf_counter() - t_all + build_s, best[0], best[1], note="best EM objective")
    if args.restarts in out and "em1" in out:
        print()
        for key, label in ((args.restarts, "default"), (1, "1 restart")):
            if key not in out:
                continue
            for em in ("em1", "em5"):
                if em in out:
                    print(f"mixpref {label} / {out[em]['fitter']}: wall time ratio "
                          f"{out[key]['wall_s'] / out[em]['wall_s']:.2f} (target <= 0.5 against 1 start); held-out LL "
                          f"{out[key]['heldout_ll']:.4f} vs {out[em]['heldout_ll']:.4f} "
                          f"(difference {out[key]['heldout_ll'] - out[em]['heldout_ll']:+.4f}, target within 0.0005)")
    return rows


def pyro_adam(problem, K, steps, lr, jit, seed):
    """The mixpref model as a plain Pyro program: AutoDelta + (Jit)TraceEnum_ELBO + Adam."""
    import pyro
    from pyro import poutine
    from pyro.infer import SVI, JitTraceEnum_ELBO, TraceEnum_ELBO
    from pyro.infer.autoguide import AutoDelta, init_to_value

    from mixpref.models import _engine as E

    spec = E.Spec(n_types=K)
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    model = E.pyro_model(spec, problem)
    gen = torch.Generator().manual_seed(seed)
    init = {"theta": (0.1 * torch.randn(K, problem.phi.shape[1], generator=gen)).to(problem.phi),
            "weights": torch.full((K,), 1.0 / K).to(problem.phi)}
    guide = AutoDelta(poutine.block(model, expose=["theta", "weights"]), init_loc_fn=init_to_value(values=init))
    elbo = JitTraceEnum_ELBO(max_plate_nesting=1, ignore_jit_warnings=True) if jit else TraceEnum_ELBO(max_plate_nesting=1)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), elbo)
    with warnings.catch_warnings():
        # Pyro's JIT path traces with torch.jit.trace, which torch now flags as deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        for _ in range(steps):
            svi.step()
    _sync(problem.device)
    med = guide.median()
    return med["theta"].detach(), torch.log(med["weights"].detach())


# ---------------------------------------------------------------------- main
def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    import mixpref as mp
    from mixpref._device import resolve_device
    from mixpref.models._problem import build_problem
    from sklearn.metrics import adjusted_rand_score

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    skip = set(filter(None, args.skip.split(",")))
    args.skip = skip
    # warm-up: one-time imports (torch.optim's dynamo hooks, scipy, sklearn, pyro) are not charged to any fitter
    small = mp.synthetic.population(n_types=2, dim=8, n_annotators=10, comparisons_per_annotator=10, random_state=0)
    mp.MixtureBT(n_types=2, n_restarts=1, device=str(device)).fit(small.data, small.features)
    fresh_rows = fresh_section(args, device) if args.shape in ("fresh", "both") else []
    if args.shape == "fresh":
        if args.json:
            Path(args.json).write_text(json.dumps({"args": {**vars(args), "skip": sorted(skip)}, "fresh": fresh_rows},
                                                  indent=2))
        return fresh_rows
    per_ann = max(1, round(args.n / args.annotators))
    t0 = time.perf_counter()
    pop = mp.synthetic.population(n_types=args.types, dim=args.dim, n_annotators=args.annotators,
                                  comparisons_per_annotator=per_ann, logit_sd=args.logit_sd, random_state=args.seed)
    train, test = pop.data.split(by="observation", test_size=0.2, random_state=args.seed)
    feats = pop.features.align(pop.data)
    print(f"data: {len(train)} train / {len(test)} test comparisons, {args.annotators} annotators, d={args.dim}, "
          f"K={args.types}, logit sd {args.logit_sd}; device {device}, threads {torch.get_num_threads()} "
          f"({time.perf_counter() - t0:.1f} s to generate)", flush=True)
    n_ann = len(pop.data.annotators)
    truth = pop.truth.annotator_types.loc[list(pop.data.annotators)].to_numpy()
    phi = torch.as_tensor(feats.embeddings, device=device)
    tr = train.arrays
    has = np.bincount(tr.annotator, minlength=n_ann) > 0
    rows = []

    def record(name, seconds, steps, theta, log_w, note="", hard=None):
        ll, assign = heldout(theta, log_w, train, test, phi, n_ann, device, hard=hard)
        ari = adjusted_rand_score(truth[has], assign[has]) if np.asarray(log_w).size > 1 else float("nan")
        row = {"fitter": name, "wall_s": seconds, "steps": steps, "ms_per_step": 1000 * seconds / max(steps, 1),
               "heldout_ll": ll, "ari": ari, "note": note}
        rows.append(row)
        print(f"{name:<46} {seconds:8.2f} s  {steps:5d} steps  {row['ms_per_step']:8.2f} ms/step  "
              f"held-out LL {ll:.4f}  ARI {ari:.3f}  {note}", flush=True)
        return row

    K = args.types
    import pyro.infer  # noqa: F401
    from sklearn.linear_model import LogisticRegression

    # --- mixpref
    for restarts in ([args.restarts, 1] if args.restarts != 1 else [1]):
        name = f"mixpref MixtureBT MAP lbfgs, {restarts} restart(s)"
        if "mixpref" in skip:
            break
        _sync(device)
        t = time.perf_counter()
        m = mp.MixtureBT(n_types=K, n_restarts=restarts, device=str(device), random_state=args.seed).fit(train, feats)
        _sync(device)
        sec = time.perf_counter() - t
        iters = sum(r["iterations"] for r in m.fit_trace_.restarts)
        theta = m.params_["theta"]
        record(name, sec, iters, theta, torch.log_softmax(m.params_["logits"].double(), 0),
               note="steps = LBFGS iterations of the final stage, all restarts")
        if restarts == args.restarts:
            mix_default = rows[-1]
    if "mixpref-adam" not in skip:
        t = time.perf_counter()
        m = mp.MixtureBT(n_types=K, n_restarts=1, optimizer="adam", max_steps=args.adam_steps, lr=args.lr,
                         device=str(device), random_state=args.seed).fit(train, feats)
        _sync(device)
        sec = time.perf_counter() - t
        loop = m.fit_trace_.restarts[-1]["seconds"]
        mix_adam = record(f"mixpref MixtureBT MAP adam, {args.adam_steps} steps", sec, args.adam_steps, m.params_["theta"],
                          torch.log_softmax(m.params_["logits"].double(), 0),
                          note=f"wall includes its k-means start; the Adam loop alone {loop:.2f} s "
                               f"({1000 * loop / args.adam_steps:.2f} ms/step)")
        mix_adam["loop_s"] = loop
    # --- hand-written torch
    X = (phi[torch.as_tensor(tr.a, device=device)] - phi[torch.as_tensor(tr.b, device=device)]).contiguous()
    y_sign = torch.as_tensor(2 * tr.y - 1, dtype=X.dtype, device=device)
    group = torch.as_tensor(tr.annotator, device=device)
    if "torch" not in skip:
        _sync(device)
        t = time.perf_counter()
        theta, lw, ev = torch_marginal(X, y_sign, group, n_ann, K, args.adam_steps, args.lr, args.seed, device, "adam")
        sec = time.perf_counter() - t
        torch_adam = record(f"hand-written torch adam, {args.adam_steps} steps", sec, ev, theta, lw,
                            note="exact marginal, difference matrix, random start")
        t = time.perf_counter()
        a_t, b_t = torch.as_tensor(tr.a, device=device), torch.as_tensor(tr.b, device=device)
        theta, lw, ev = torch_marginal_gather(phi, a_t, b_t, y_sign, group, n_ann, K, args.adam_steps, args.lr,
                                              args.seed, device)
        sec = time.perf_counter() - t
        torch_gather = record(f"hand-written torch adam (gather), {args.adam_steps} steps", sec, ev, theta, lw,
                              note="exact marginal, rewards per response + index_select, random start")
        t = time.perf_counter()
        theta, lw, ev = torch_marginal(X, y_sign, group, n_ann, K, 500, args.lr, args.seed, device, "lbfgs")
        sec = time.perf_counter() - t
        record("hand-written torch lbfgs, <=500 iterations", sec, ev, theta, lw,
               note="steps = function evaluations; random start")
    if "pyro" not in skip:
        problem = build_problem(train, feats, device=device)
        for jit in (False, True):
            t = time.perf_counter()
            theta, lw = pyro_adam(problem, K, args.adam_steps, args.lr, jit, args.seed)
            sec = time.perf_counter() - t
            record(f"pyro {'Jit' if jit else ''}TraceEnum_ELBO AutoDelta adam, {args.adam_steps} steps", sec,
                   args.adam_steps, theta, lw, note="mixpref's Pyro model, random start")
    if "em" not in skip:
        Xn = X.double().cpu().numpy()
        t = time.perf_counter()
        theta, lw, assign_em = hard_em(Xn, tr.y, tr.annotator, n_ann, K, args.em_iters, args.seed)
        sec = time.perf_counter() - t
        em_row = record(f"hand-written hard EM (MaxMin-RLHF), <= {args.em_iters} iters", sec, args.em_iters, theta, lw,
                        note="sklearn LR M-steps; predicts with its hard assignment", hard=assign_em)
        record("  same hard-EM parameters, soft posterior", sec, args.em_iters, theta, lw,
               note="evaluated like the marginal fits")
    # --- single BT
    if "single" not in skip:
        from sklearn.linear_model import LogisticRegression

        Xn = X.double().cpu().numpy() if "Xn" not in locals() else Xn
        t = time.perf_counter()
        lr = LogisticRegression(fit_intercept=False, C=1.0, max_iter=1000).fit(Xn, tr.y)
        sec = time.perf_counter() - t
        record("single BT: sklearn LogisticRegression", sec, int(lr.n_iter_[0]), lr.coef_, np.zeros(1))
        t = time.perf_counter()
        bt = mp.BradleyTerry(device=str(device)).fit(train, feats)
        sec = time.perf_counter() - t
        record("single BT: mixpref BradleyTerry (lbfgs)", sec, bt.fit_trace_.restarts[0]["iterations"],
               bt.params_["theta"], np.zeros(1))
    # --- summary
    if "torch" not in skip and "mixpref" not in skip:
        print()
        for base_row in (torch_gather, torch_adam):
            ratio = mix_default["wall_s"] / base_row["wall_s"]
            print(f"mixpref default / {base_row['fitter']}: wall time ratio {ratio:.2f} (target <= 1.5); "
                  f"held-out LL {mix_default['heldout_ll']:.4f} vs {base_row['heldout_ll']:.4f}")
        if "mixpref-adam" not in skip:
            ratio = mix_adam["wall_s"] / torch_gather["wall_s"]
            loop_ratio = mix_adam["loop_s"] / torch_gather["wall_s"]
            print(f"mixpref adam / {torch_gather['fitter']} (same optimiser and steps): wall time ratio {ratio:.2f} "
                  f"(Adam loop alone {loop_ratio:.2f}); held-out LL {mix_adam['heldout_ll']:.4f} vs "
                  f"{torch_gather['heldout_ll']:.4f}")
    if "em" not in skip and "mixpref" not in skip:
        print(f"mixpref default held-out LL minus hard EM's: {mix_default['heldout_ll'] - em_row['heldout_ll']:+.4f} "
              "(target > 0)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": {**vars(args), "skip": sorted(skip)}, "rows": rows,
                                               "fresh": fresh_rows}, indent=2))
    return rows


# ====================================================================== LowRankBT (issue 11; a section of its own)
def lowrank_main(argv=None):
    """LowRankBT (rank K, simplex weights) against MixtureBT (K types, its default restarts) in one run.

    Same synthetic population and split for both (discrete types, the mixture's home ground;
    20% of each training annotator's comparisons held out at random, predicted with the
    annotator's own weights or type posterior). Then ``--new`` further annotators, never in
    training, are adapted to (population frozen): the time of one annotator from 10
    comparisons (median of 20 calls) and of all of them in one batched call, per annotator.
    Each model is fitted ``--repeat`` times, the two alternating; the median fit time counts.

    Usage: ``python studies/benchmarks/fit.py lowrank --threads 1`` (N=200k, d=384, 2k
    annotators, rank 3); ``... lowrank --n 20000 --annotators 200`` for a smoke run.
    """
    p = argparse.ArgumentParser(description=lowrank_main.__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--annotators", type=int, default=2000)
    p.add_argument("--rank", type=int, default=3)
    p.add_argument("--new", type=int, default=100, help="unseen annotators to adapt to")
    p.add_argument("--logit-sd", type=float, default=1.15)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3, help="fits of each model; the median wall time is reported")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import mixpref as mp
    from mixpref.data.operations import take
    from mixpref.models.lowrank import LowRankBT

    if args.threads:
        torch.set_num_threads(args.threads)
    small = mp.synthetic.population(n_types=2, dim=8, n_annotators=10, comparisons_per_annotator=10, random_state=0)
    mp.MixtureBT(n_types=2, n_restarts=1).fit(small.data, small.features)  # one-time imports, not charged
    LowRankBT(rank=2).fit(small.data, small.features)
    per = max(10, round(args.n / args.annotators))
    pop = mp.synthetic.population(n_types=args.rank, dim=args.dim, n_annotators=args.annotators + args.new,
                                  comparisons_per_annotator=per, logit_sd=args.logit_sd, random_state=args.seed)
    arr = pop.data.arrays
    none = np.zeros(0, dtype=np.int64)
    new_mask = arr.annotator >= args.annotators
    rng = np.random.default_rng(args.seed)
    held = (rng.random(len(arr)) < 0.2) & ~new_mask
    train, test = take(pop.data, np.flatnonzero(~new_mask & ~held), none), take(pop.data, np.flatnonzero(held), none)
    new = take(pop.data, np.flatnonzero(new_mask), none)
    # one new annotator's 10 comparisons, with the response table of their prompts only (adapt aligns it)
    first = pop.data.select(annotators=[pop.data.annotators[args.annotators]])
    one = take(first, np.arange(10), none)
    print(f"data: {len(train)} train / {len(test)} held-out comparisons, {args.annotators} annotators, d={args.dim}, "
          f"rank/K={args.rank}; {args.new} new annotators; threads {torch.get_num_threads()}", flush=True)
    rows = []
    makers = (("MixtureBT (default restarts)", lambda: mp.MixtureBT(n_types=args.rank, random_state=args.seed)),
              ("LowRankBT simplex", lambda: LowRankBT(rank=args.rank, random_state=args.seed)))
    # the two models' fits alternate, so that a change in the machine's load falls on both
    walls = {name: [] for name, _ in makers}
    fitted = {}
    for _ in range(max(1, args.repeat)):
        for name, make in makers:
            t = time.perf_counter()
            fitted[name] = make().fit(train, pop.features)
            walls[name].append(time.perf_counter() - t)
    for name, _ in makers:
        model, wall = fitted[name], float(np.median(walls[name]))
        times = []
        for _ in range(20):
            t = time.perf_counter()
            model.adapt(one, pop.features)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.adapt(new, pop.features)
        batch = time.perf_counter() - t
        row = {"fitter": name, "wall_s": wall, "wall_s_each": walls[name], "heldout_ll": model.score(test, pop.features),
               "adapt_one_10_ms": 1000 * float(np.median(times)), "adapt_batch_ms_per_annotator": 1000 * batch / args.new}
        rows.append(row)
        print(f"{name:<32} fit {wall:7.2f} s (median of {len(walls[name])})  held-out LL {row['heldout_ll']:.4f}  adapt 1x10 "
              f"{row['adapt_one_10_ms']:.2f} ms (median)  batch {row['adapt_batch_ms_per_annotator']:.3f} ms/annotator",
              flush=True)
    ratio = rows[1]["wall_s"] / rows[0]["wall_s"]
    print(f"LowRankBT / MixtureBT wall time: {ratio:.2f} (target <= 2)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "ratio": ratio}, indent=2))
    return rows


if __name__ == "__main__":
    lowrank_main(sys.argv[2:]) if sys.argv[1:2] == ["lowrank"] else main()
