"""The two optimisers every fit uses: full-batch LBFGS and (minibatch) Adam, both maximising.

Why LBFGS by default: on these smooth, low-curvature objectives full-batch Adam needs
200–1,000 steps where LBFGS reaches the same optimum in tens of iterations (measured in
studies/benchmarks/RESULTS.md).
"""

from __future__ import annotations

import torch


def progress_bar(total, desc, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def lbfgs(objective, params: dict, max_iter=500, tol=1e-9, progress=False, desc="fit", chunk=25):
    """Maximise ``objective(params)`` with full-batch LBFGS (strong Wolfe line search).

    ``objective`` returns a scalar tensor (already normalised per observation). Runs in
    chunks of ``chunk`` iterations so that a progress bar can advance; LBFGS keeps its
    curvature history across chunks.
    """
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.LBFGS(list(leaves.values()), lr=1.0, max_iter=chunk, history_size=30,
                            tolerance_grad=1e-7, tolerance_change=tol, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = -objective(leaves)
        loss.backward()
        return loss

    bar = progress_bar(max_iter, desc, progress)
    done = 0
    evals = 0
    while done < max_iter:
        # never run past max_iter (LBFGS counts iterations across chunks)
        group = opt.param_groups[0]
        group["max_iter"] = min(chunk, max_iter - done)
        # torch also ends a step after max_eval evaluations (1.25 x max_iter by default): line
        # searches may need more, and a chunk cut short that way is not convergence
        group["max_eval"] = 4 * group["max_iter"]
        opt.step(closure)
        state = opt.state[opt._params[0]]
        n_iter = state.get("n_iter", 0)
        step = n_iter - done
        done = n_iter
        chunk_evals, evals = state.get("func_evals", 0) - evals, state.get("func_evals", 0)
        if bar is not None:
            bar.update(step)
        if step < group["max_iter"] and chunk_evals < group["max_eval"]:  # converged inside this chunk
            break
    if bar is not None:
        # an early stop is the fit finishing, not failing: show the bar complete
        bar.total = bar.n
        bar.refresh()
        bar.close()
    with torch.no_grad():
        value = float(objective(leaves))
    return {k: v.detach() for k, v in leaves.items()}, value, done


def adam(objective, params: dict, steps=500, lr=0.05, progress=False, desc="fit", minibatches=None):
    """Maximise with Adam; ``minibatches`` is an optional list of sub-problem objectives to cycle."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.Adam(list(leaves.values()), lr=lr)
    bar = progress_bar(steps, desc, progress)
    for step in range(steps):
        opt.zero_grad()
        fn = objective if minibatches is None else minibatches[step % len(minibatches)]
        loss = -fn(leaves)
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    with torch.no_grad():
        value = float(objective(leaves))
    return {k: v.detach() for k, v in leaves.items()}, value, steps

