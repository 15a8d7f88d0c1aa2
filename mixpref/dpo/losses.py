"""Per-example preference losses of the likelihood/unlikelihood family, behind one function.

Every loss takes summed sequence log-probabilities of the chosen and rejected responses
under the policy and the reference, and returns one loss per example (no reduction), so
that trainers can weight examples. With ``h`` the difference of policy-to-reference
log-ratios, ``h = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))``:

==============  ==========================================================================
name            per-example loss (``p`` = probability that chosen is preferred)
==============  ==========================================================================
sigmoid         DPO: ``−log σ(βh)``; with ``p`` it becomes the soft (cDPO) loss below
soft            cDPO: ``−p log σ(βh) − (1 − p) log σ(−βh)`` (``p`` required)
ipo_sum         IPO on summed log-ratios: ``(h − (p − ½)/β)²``; hard labels give ``(h − 1/(2β))²``
                (TRL's ``ipo`` averages the log-ratios per token, hence the different name)
hinge           SLiC: ``max(0, 1 − βh)``; with ``p``: ``p·max(0, 1 − βh) + (1 − p)·max(0, 1 + βh)``
robust          rDPO with flip rate ``ε = 1 − p`` (``p > ½``):
                ``[(1 − ε)(−log σ(βh)) + ε log σ(−βh)] / (1 − 2ε)``
unlikelihood    Welleck et al., sequence level, no reference, no β:
                ``−log π(y_w) − log(1 − π(y_l))``; with ``p``: the ``p``-mixture of both orientations
generative      density estimation, no reference, no β: ``−log σ(log π(y_w) − log π(y_l))``;
                with ``p``: ``−p log σ(d) − (1 − p) log σ(−d)``
==============  ==========================================================================

``p=None`` means hard labels (``p = 1``), except for ``soft`` which needs ``p``.
The sigmoid, soft, ipo_sum and generative losses with ``p`` are the expectation of the hard
loss over a label drawn with probability ``p`` (ipo_sum up to a constant), which is why
:func:`mixpref.resample_soft_labels` reproduces them in expectation for trainers
without soft labels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import DataError

LOSSES = ("sigmoid", "soft", "ipo_sum", "hinge", "robust", "unlikelihood", "generative")

# names that mean something else in TRL: refused with a pointer rather than silently different
RENAMED = {"ipo": "loss 'ipo': mixpref's IPO sums log-ratios over the response's tokens and is named 'ipo_sum'; "
                  "TRL's 'ipo' averages them per token (trl.DPOTrainer with DPOConfig(loss_type='ipo'))"}

# losses that read neither the reference log-probabilities nor beta
REFERENCE_FREE = ("unlikelihood", "generative")


def _as_tensor(x, name, like=None):
    if isinstance(x, torch.Tensor):
        t = x
    else:
        dtype = like.dtype if like is not None else torch.get_default_dtype()
        device = like.device if like is not None else None
        # torch.tensor copies, so read-only numpy arrays (pandas columns) are fine
        try:
            t = torch.tensor(x, dtype=dtype, device=device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise DataError(f"{name}: expected numbers, got {type(x).__name__} ({err})") from None
    if like is not None and t.dim() and t.shape != like.shape:
        # a scalar broadcasts harmlessly; (n,) against (n, 1) would silently give an (n, n) loss
        raise DataError(f"{name}: shape {tuple(t.shape)}, expected {tuple(like.shape)} (one value per example)")
    if not torch.is_floating_point(t):
        t = t.to(torch.get_default_dtype())
    return t


def _log1mexp(x):
    # log(1 - exp(x)) for x < 0, accurate at both ends (Mächler 2012): expm1 near 0, log1p far away
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def loss(name, policy_chosen, policy_rejected, ref_chosen=None, ref_rejected=None, beta=0.1, p=None):
    """Per-example preference loss ``name`` (one of :data:`LOSSES`).

    Parameters
    ----------
    name : str
        One of ``mp.dpo.LOSSES``.
    policy_chosen, policy_rejected : torch.Tensor, shape (n,)
        Summed log-probabilities ``log π(y|x)`` of the chosen and rejected responses under
        the policy being trained.
    ref_chosen, ref_rejected : torch.Tensor, shape (n,), optional
        The same under the reference policy (constants). Required except for the
        reference-free losses ``unlikelihood`` and ``generative``.
    beta : float
        Strength of the tie to the reference (``τ`` of IPO); ignored by reference-free losses.
    p : torch.Tensor or float, optional
        Soft label: the probability that chosen is preferred (``None`` = 1). Required by ``soft``;
        ``robust`` reads it as ``1 − ε`` and needs ``p > 0.5``.

    Returns
    -------
    torch.Tensor, shape (n,)
        One loss per example; reduce (weighted mean) in the trainer.

    Examples
    --------
    >>> import torch, mixpref as mp
    >>> lw, ll = torch.tensor([-3.0]), torch.tensor([-4.0])
    >>> ref = torch.tensor([-3.5])
    >>> mp.dpo.loss("sigmoid", lw, ll, ref, ref, beta=1.0)
    tensor([0.3133])
    """
    if name in RENAMED:
        raise DataError(RENAMED[name])
    if name not in LOSSES:
        raise DataError(f"loss {name!r}: unknown; expected one of {', '.join(LOSSES)}")
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise DataError(f"beta: got {beta!r}, expected a positive number") from None
    if not beta > 0:
        raise DataError(f"beta: got {beta}, expected a positive number")
    pc = _as_tensor(policy_chosen, "policy_chosen")
    pr = _as_tensor(policy_rejected, "policy_rejected", pc)
    if p is not None:
        p = _as_tensor(p, "p", pc)
        bad = ~((p >= 0) & (p <= 1))
        if bool(bad.any()):
            row = int(bad.reshape(-1).nonzero()[0]) if p.dim() else 0
            value = float(p.reshape(-1)[row])
            raise DataError(f"p, row {row}: got {value}, expected a probability in [0, 1]")

    if name == "unlikelihood" and (bool((pc >= 0).any()) or bool((pr >= 0).any())):
        raise DataError("loss 'unlikelihood': log-probabilities must be negative (log(1 - π(y)) is -inf at π(y) = 1)")
    rc = rr = None
    if name not in REFERENCE_FREE:
        if ref_chosen is None or ref_rejected is None:
            raise DataError(
                f"loss {name!r}: ref_chosen and ref_rejected are required (only {REFERENCE_FREE} are reference-free)"
            )
        rc = _as_tensor(ref_chosen, "ref_chosen", pc)
        rr = _as_tensor(ref_rejected, "ref_rejected", pc)
    if name == "soft" and p is None:
        raise DataError("loss 'soft': p is required (the probability that chosen is preferred); use 'sigmoid' for hard labels")
    if name == "robust" and p is not None:
        bad = ~(p > 0.5)
        if bool(bad.any()):
            row = int(bad.reshape(-1).nonzero()[0]) if p.dim() else 0
            raise DataError(
                f"p, row {row}: got {float(p.reshape(-1)[row])}, expected p > 0.5 for loss 'robust' "
                "(it reads 1 - p as the label flip rate, which must be below 0.5)"
            )
    if name == "unlikelihood":
        _warn_vanishing_unlikelihood(pr if p is None else torch.minimum(pc, pr))
    return compute(name, pc, pr, rc, rr, beta, p)


# below this log-probability, d/d log π of −log(1 − π) = π / (1 − π) < 2e-9: no push on the rejected side
_VANISHING_LOGP = -20.0


def _warn_vanishing_unlikelihood(logp):
    import warnings

    low = int((logp.detach() < _VANISHING_LOGP).sum())
    if low:
        warnings.warn(
            f"loss 'unlikelihood': {low} of {logp.numel()} rejected responses have log π below {_VANISHING_LOGP:g}, "
            "where the sequence-level term −log(1 − π) has a vanishing gradient (as for any real-length response); "
            "use the token-level variant (train_lm(..., unlikelihood='token'))",
            UserWarning, stacklevel=3,
        )


def compute(name, pc, pr, rc, rr, beta, p):
    """:func:`loss` without the checks, for trainers' inner loops (inputs already validated)."""
    if name == "unlikelihood":
        return _unlikelihood(pc, pr, p)
    if name == "generative":
        d = pc - pr
        if p is None:
            return -F.logsigmoid(d)
        return -p * F.logsigmoid(d) - (1 - p) * F.logsigmoid(-d)
    h = (pc - rc) - (pr - rr)
    if name in ("sigmoid", "soft"):
        if p is None:
            return -F.logsigmoid(beta * h)
        return -p * F.logsigmoid(beta * h) - (1 - p) * F.logsigmoid(-beta * h)
    if name == "ipo_sum":
        target = 1.0 / (2.0 * beta) if p is None else (p - 0.5) / beta
        return (h - target) ** 2
    if name == "hinge":
        if p is None:
            return torch.relu(1 - beta * h)
        return p * torch.relu(1 - beta * h) + (1 - p) * torch.relu(1 + beta * h)
    if name == "robust":
        if p is None:
            return -F.logsigmoid(beta * h)
        eps = 1 - p
        return ((1 - eps) * -F.logsigmoid(beta * h) + eps * F.logsigmoid(-beta * h)) / (1 - 2 * eps)
    raise AssertionError(name)  # pragma: no cover


def _unlikelihood(pc, pr, p):
    # sequence level; a response holding all the mass (log π rounds to 0) would give
    # log(1 - π) = -inf, so trainers' log-probs are kept a hair below 0
    pc, pr = pc.clamp(max=-1e-12), pr.clamp(max=-1e-12)
    hard = -pc - _log1mexp(pr)
    if p is None:
        return hard
    return p * hard + (1 - p) * (-pr - _log1mexp(pc))


def token_unlikelihood(logprobs, mask):
    """Token-level unlikelihood of a rejected response: ``−Σ_t log(1 − π(y_t | x, y_<t))``.

    Parameters
    ----------
    logprobs : torch.Tensor, shape (n, T)
        Per-token log-probabilities of the rejected tokens.
    mask : torch.Tensor, shape (n, T)
        1 on response tokens, 0 elsewhere.

    Returns
    -------
    torch.Tensor, shape (n,)

    Examples
    --------
    >>> import torch
    >>> token_unlikelihood(torch.log(torch.tensor([[0.5, 0.5]])), torch.ones(1, 2))
    tensor([1.3863])
    """
    # clamp keeps log(1 - π) finite when a token has all the mass (π rounds to 1)
    lp = logprobs.clamp(max=-1e-6)
    return -(_log1mexp(lp) * mask).sum(-1)
