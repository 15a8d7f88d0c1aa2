"""Study `curse`: what pairwise preference learning can and cannot move.

On a tabular softmax policy (one prompt, M responses, logits theta, pi = softmax(theta))
this script confirms numerically, in float64:

1. DPO's gradient is the Bradley-Terry (RLHF) reward gradient pulled back through the
   implicit reward r(y) = beta * log(pi(y) / pi_ref(y)).
2. The log-normaliser cancels in the pairwise likelihood: its gradient is exactly zero, for
   BT on log-probabilities and for mixpref's policy-likelihood model.
3. Responses that appear in no comparison never receive a reward (logit) update, yet their
   probability under the policy moves, because the normaliser moves: the "curse".
4. DPO's gradient is a likelihood term on y_w plus an unlikelihood term on y_l with the
   shared weight beta * (1 - sigmoid(beta * Delta)).

Run: ``python studies/curse.py`` (``--small`` for a quick check); writes
``studies/results/curse/report.md`` with a plot and logs to mlflow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import mixpref as mp
from mixpref.data.operations import take
from mixpref.reporting import Report, new_figure

torch.set_default_dtype(torch.float64)


def _pairs(m_seen, n_pairs, rng):
    first = rng.integers(0, m_seen, size=n_pairs)
    second = (first + rng.integers(1, m_seen, size=n_pairs)) % m_seen
    return torch.as_tensor(first), torch.as_tensor(second)


def check_gradients(m, m_seen, n_pairs, beta, rng):
    """Claims 1, 2 and 4 at a random policy; returns {claim: max abs difference}."""
    theta = torch.as_tensor(rng.normal(size=m), dtype=torch.float64).requires_grad_(True)
    log_ref = torch.log_softmax(torch.as_tensor(rng.normal(size=m)), 0)
    w, lo = _pairs(m_seen, n_pairs, rng)
    logp = torch.log_softmax(theta, 0)
    dpo = mp.dpo.loss("sigmoid", logp[w], logp[lo], log_ref[w], log_ref[lo], beta=beta).sum()
    (g_dpo,) = torch.autograd.grad(dpo, theta)

    # 1. BT on the implicit reward, gradient pulled back through r(theta)
    reward = (beta * (torch.log_softmax(theta, 0) - log_ref)).detach().requires_grad_(True)
    bt = -torch.nn.functional.logsigmoid(reward[w] - reward[lo]).sum()
    (g_reward,) = torch.autograd.grad(bt, reward)
    jac = torch.autograd.functional.jacobian(lambda t: beta * (torch.log_softmax(t, 0) - log_ref), theta.detach())
    bt_pulled_back = jac.T @ g_reward

    # 2. the normaliser as a free variable: r(y) = theta_y - log Z
    log_z = torch.logsumexp(theta.detach(), 0).clone().requires_grad_(True)
    r = theta.detach() - log_z
    nll = -torch.nn.functional.logsigmoid(r[w] - r[lo]).sum()
    (g_log_z,) = torch.autograd.grad(nll, log_z)

    # 4. per-pair gradient with respect to the four log-probabilities vs the closed form
    pc = logp[w].detach().requires_grad_(True)
    pr = logp[lo].detach().requires_grad_(True)
    per_pair = mp.dpo.loss("sigmoid", pc, pr, log_ref[w], log_ref[lo], beta=beta).sum()
    g_pc, g_pr = torch.autograd.grad(per_pair, (pc, pr))
    delta = (pc - log_ref[w]) - (pr - log_ref[lo])
    weight = beta * (1 - torch.sigmoid(beta * delta.detach()))
    unseen = torch.arange(m_seen, m)
    return {
        "1. DPO grad == BT reward grad pulled back (max abs diff)": float((g_dpo - bt_pulled_back).abs().max()),
        "2. d pairwise NLL / d log Z (must be 0)": float(g_log_z.abs()),
        "3. BT reward grad on unseen responses (must be 0)": float(g_reward[unseen].abs().max()) if len(unseen) else 0.0,
        "4a. dL/dlog pi(y_w) + beta(1 - sigmoid(beta Delta))": float((g_pc + weight).abs().max()),
        "4b. dL/dlog pi(y_l) - beta(1 - sigmoid(beta Delta))": float((g_pr - weight).abs().max()),
    }


def train_tabular_dpo(m, m_seen, n_pairs, beta, steps, lr, rng):
    """Train the tabular policy with DPO on pairs among the first m_seen responses.

    Returns the trajectory of logits and probabilities (steps+1, m).
    """
    theta = torch.zeros(m, requires_grad=True)
    log_ref = torch.full((m,), -np.log(m))
    w, lo = _pairs(m_seen, n_pairs, rng)
    # winners follow a fixed latent quality so the data are consistent
    quality = torch.as_tensor(rng.normal(size=m))
    swap = quality[w] < quality[lo]
    w, lo = torch.where(swap, lo, w), torch.where(swap, w, lo)
    opt = torch.optim.SGD([theta], lr=lr)
    logits, probs = [theta.detach().clone()], [torch.softmax(theta.detach(), 0)]
    for _ in range(steps):
        opt.zero_grad()
        logp = torch.log_softmax(theta, 0)
        mp.dpo.loss("sigmoid", logp[w], logp[lo], log_ref[w], log_ref[lo], beta=beta).mean().backward()
        opt.step()
        logits.append(theta.detach().clone())
        probs.append(torch.softmax(theta.detach(), 0))
    return torch.stack(logits).numpy(), torch.stack(probs).numpy(), w.numpy(), lo.numpy()


def check_policy_likelihood(small, seed):
    """Claim 2 and 3 on mixpref's policy-likelihood model fitted to synthetic data."""
    pop = mp.synthetic.population(
        n_types=1, dim=8, n_annotators=20, comparisons_per_annotator=20 if small else 100,
        n_prompts=4, responses_per_prompt=6, random_state=seed,
    )
    data, features = pop.data, pop.features
    # hide one response of prompt p0 from every comparison
    arr = data.arrays
    hidden = 0
    keep = (arr.a != hidden) & (arr.b != hidden)
    train = take(data, np.flatnonzero(keep), np.zeros(0, dtype=int))
    one_hot = mp.Features(features.ids, np.eye(len(features.ids)))
    model = mp.PolicyLikelihood(beta=1.0, alpha=0.0, random_state=seed).fit(train, one_hot)
    rewards = np.asarray(model.rewards(one_hot))
    prior_reward = 0.0
    return {
        "policy-likelihood: reward of the hidden response (prior mean 0)": float(abs(rewards[hidden] - prior_reward)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes for a smoke test")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "curse"))
    parser.add_argument("--tracking-uri", default=None, help="mlflow URI (default sqlite:///./mixpref-runs/mlflow.db)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    m, m_seen = (8, 5) if args.small else (40, 25)
    n_pairs, beta = (20, 0.5) if args.small else (300, 0.5)
    steps = 50 if args.small else 400

    with mp.Study("curse", tracking_uri=args.tracking_uri, output_dir=args.out) as study:
        checks = check_gradients(m, m_seen, n_pairs, beta, rng)
        try:
            checks.update(check_policy_likelihood(args.small, args.seed))
        except (AttributeError, NotImplementedError) as err:  # the model stage may be absent
            checks["policy-likelihood check skipped"] = float("nan")
            print(f"policy-likelihood check skipped: {err}")
        logits, probs, w, lo = train_tabular_dpo(m, m_seen, n_pairs, beta, steps, lr=1.0, rng=rng)
        unseen = np.arange(m_seen, m)
        unseen_logit_change = float(np.abs(logits[-1, unseen] - logits[0, unseen]).max())
        unseen_mass = probs[:, unseen].sum(axis=1)
        checks["3. DPO logit change of unseen responses after training (must be 0)"] = unseen_logit_change
        study.log_metrics({k.split(" ")[0].strip(".") + "_maxdiff": v for k, v in checks.items() if np.isfinite(v)})
        study.log_metrics({"unseen_mass_start": float(unseen_mass[0]), "unseen_mass_end": float(unseen_mass[-1])})

        report = Report(args.out, "The curse of pairwise preference learning", study)
        report.text(__doc__.split("\n\n", 1)[1].split("Run:")[0])
        import pandas as pd

        table = pd.DataFrame({"claim": list(checks), "value": list(checks.values())})
        report.table(table, "checks", "Numerical checks (float64)", floatfmt=".3g")
        report.text(
            f"A tabular policy over {m} responses was trained with DPO (beta={beta}, {steps} SGD steps) on "
            f"{n_pairs} pairs among the first {m_seen}. The {m - m_seen} responses outside the data kept their "
            f"logits exactly (max change {unseen_logit_change:.1e}), yet their total probability went from "
            f"{unseen_mass[0]:.3f} to {unseen_mass[-1]:.3f}: the policy's mass on them is decided by the "
            "normaliser, not by any preference about them."
        )
        fig, (ax1, ax2) = new_figure(10, 4, ncols=2)
        winners = np.unique(w)
        losers = np.setdiff1d(np.unique(lo), winners)
        ax1.plot(probs[:, winners].sum(1), label="responses that won a comparison")
        ax1.plot(probs[:, losers].sum(1), label="responses that only lost")
        ax1.plot(unseen_mass, label="responses in no comparison")
        ax1.set_xlabel("DPO step")
        ax1.set_ylabel("policy mass")
        ax1.legend()
        ax2.plot(logits[:, unseen], color="tab:green", alpha=0.5)
        ax2.plot(logits[:, winners[:5]], color="tab:blue", alpha=0.5)
        ax2.set_xlabel("DPO step")
        ax2.set_ylabel("logit (reward up to a constant)")
        ax2.set_title("unseen responses (green) never move")
        report.figure(fig, "curse_mass", "Policy mass and logits during DPO on a tabular policy")
        path = report.write()
    print(table.to_string(index=False))
    print(f"report: {path}")
    return checks


if __name__ == "__main__":
    main()
