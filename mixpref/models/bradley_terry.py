"""Bradley–Terry reward model on response features (Davidson ties, Plackett–Luce rankings)."""

from __future__ import annotations

from . import _engine as E
from ._base import PreferenceModel
from ._options import resolve, resolve_ties


class BradleyTerry(PreferenceModel):
    """Bradley–Terry model: ``P(a ≻ b) = σ(r(a) − r(b))`` with ``r = f_θ(φ)``.

    Ties follow Davidson's model with a learned tie parameter ``nu``
    (``P(tie) ∝ nu·sqrt(e^{r_a} e^{r_b})``); rankings of 3+ responses follow Plackett–Luce
    with the same reward. Fitted by MAP with LBFGS on the exact log posterior by default.

    Parameters
    ----------
    reward : {"linear", "mlp"}
        ``f_θ(φ) = θ·φ`` or a one-hidden-layer MLP (``hidden`` units, GELU).
    hidden : int
        Hidden units of the MLP reward.
    prior_scale : float or None
        Standard deviation of the Normal prior on the reward parameters; ``None`` is a flat
        prior (maximum likelihood). ``prior_scale=1`` equals scikit-learn's ``C=1`` L2 penalty.
    ties : {"auto", "davidson", "half"}
        ``"auto"``: Davidson when the data has ties; ``"half"``: a tie counts as half a win
        for each side.
    inference : {"map", "svi", "laplace", "ensemble"}
        MAP point estimate; SVI (a variational posterior started at MAP, ``n_samples`` kept
        draws); Laplace (a Gaussian at the MAP with the log posterior's exact Hessian up to
        4,000 parameters, low-rank beyond; ``n_samples`` draws); or a bootstrap ensemble
        over annotators of ``n_members`` MAP fits. This and the options below are
        keyword-only: the inference options every model shares.
    optimizer : {"lbfgs", "adam"}
        Optimiser of the MAP fit: full-batch LBFGS on the exact objective, or Adam.
    n_restarts : int
        Number of starts of a mixture fit (the best training objective is kept).
    max_steps : int, optional
        Iterations of the MAP optimiser (default: 500 for LBFGS, 1,000 for Adam).
    lr : float
        Adam learning rate.
    guide : {"normal", "lowrank"}
        SVI guide: AutoNormal or AutoLowRankMultivariateNormal.
    svi_steps : int
        SVI steps.
    svi_lr : float
        SVI learning rate (ClippedAdam).
    jit : bool
        SVI with Pyro's compiled (JIT) ELBO, less per-step overhead.
    n_samples : int
        Posterior draws kept by SVI and Laplace.
    n_members : int
        Bootstrap fits of an ensemble.
    batch_size : int, optional
        Annotators per minibatch, from 1 to the number of annotators: stochastic Adam for the
        MAP fit and, with ``inference="svi"``, stochastic VI (each step's ELBO on that many
        annotators drawn afresh, their terms scaled by annotators / batch size, the type still
        summed out per annotator; an unbiased estimate of the full ELBO). By default minibatches
        are used only when the full batch would need more than ``memory_budget`` bytes.
        Distributed fits draw the same batches as one process.
    memory_budget : float
        Bytes a full-batch fit may use before it switches to minibatches (MAP and SVI).
    design_cache : float, None or "auto"
        Bytes of the derived design matrix (the comparisons' feature differences, or the
        rows of the used responses) a fit keeps in memory; ``None`` keeps all of it,
        ``"auto"`` is 0.4e9 on the CPU and no limit on an accelerator (whose memory
        ``memory_budget`` governs). Rows beyond it are re-read from the features in blocks
        in every pass, with the same objective: a speed/memory trade-off like
        scikit-learn's SVC ``cache_size``. At 400k fresh comparisons on the CPU (d = 384, a
        0.61 GB float32 matrix) "auto" keeps 65% of it: peak memory 0.2 GB lower (within
        features + 1 GB), 1.4x the wall time.
    dtype : {"float32", "float64"}
        Floating-point type of the fit.
    device : str
        Torch device; ``"auto"`` uses CUDA when available.
    progress : bool
        Show tqdm progress bars.
    random_state : int
        Seed of every random choice of the fit (starts, resamples, SVI).

    Examples
    --------
    >>> import mixpref as mp
    >>> pop = mp.synthetic.population(n_types=1, n_annotators=20, comparisons_per_annotator=30, dim=8)
    >>> bt = mp.BradleyTerry().fit(pop.data, pop.features)
    >>> bt.rewards(pop.features).shape
    (1000,)
    >>> bool(bt.score(pop.data, pop.features) > -0.69)
    True
    """

    def __init__(self, reward="linear", hidden=64, prior_scale=1.0, ties="auto", *, inference="map", optimizer="lbfgs",
                 n_restarts=1, max_steps=None, lr=0.05, guide="normal", svi_steps=1000, svi_lr=0.01, jit=False,
                 n_samples=200, n_members=10, batch_size=None, memory_budget=4e9, design_cache="auto", dtype="float32",
                 device="auto", progress=False, random_state=0):
        self.reward = reward
        self.hidden = hidden
        self.prior_scale = prior_scale
        self.ties = ties
        self.inference = inference
        self.optimizer = optimizer
        self.n_restarts = n_restarts
        self.max_steps = max_steps
        self.lr = lr
        self.guide = guide
        self.svi_steps = svi_steps
        self.svi_lr = svi_lr
        self.jit = jit
        self.n_samples = n_samples
        self.n_members = n_members
        self.batch_size = batch_size
        self.memory_budget = memory_budget
        self.design_cache = design_cache
        self.dtype = dtype
        self.device = device
        self.progress = progress
        self.random_state = random_state

    def _options(self):
        return resolve(self)

    def _base_spec(self, data, features) -> E.Spec:
        return E.Spec(kind="bt", reward=self.reward, hidden=int(self.hidden),
                      prior_scale=None if self.prior_scale is None else float(self.prior_scale),
                      ties=resolve_ties(self.ties, data))

    def _spec(self, data, features) -> E.Spec:
        return self._base_spec(data, features)
