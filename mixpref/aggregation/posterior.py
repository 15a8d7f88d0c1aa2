"""A rule applied to every posterior draw of a profile: the posterior of the lottery.

The draws are stacked as prompts (draw s of prompt p becomes prompt ``s * P + p``) and the
rule runs once on the stacked profile: every rule in :data:`mixpref.RULES` is batched over
prompts, so 100 draws of 10,000 prompts are one aggregation of 1,000,000 prompts (for the
maximal lottery, one self-play run). Draws are processed in blocks of ``draws_per_batch``
only to bound memory.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd

from ..errors import DataError
from ..events import emit
from .effective import NO_DRAWS, reward_draws
from .lottery import Lottery
from .profile import Profile

# probability above this counts as "in the support" (below it is solver noise)
SUPPORT_TOL = 1e-9
_SUMMARY_BLOCK = 100_000


class LotteryPosterior:
    """The posterior of a rule's lottery: one lottery per posterior draw of the profile.

    Attributes
    ----------
    rule : str
    draws : ndarray (S, P, M)
        The rule's lottery under each draw.
    mean : Lottery
        The posterior mean lottery ``mean_s draws[s]`` (its ``pairwise`` is the point
        profile's pooled matrix; ``scores`` the mean of the draws' scores).
    support_probability : ndarray (P, M)
        Fraction of draws whose lottery gives the candidate probability above 1e-9.
    winner_probability : ndarray (P, M)
        Fraction of draws in which the candidate is the lottery's most probable one (a draw
        with tied top candidates counts 1/(number tied) for each); rows sum to 1.
    exploitability : ndarray (S, P)
        Exploitability of the *mean* lottery under each draw's pooled game
        ``max_i sum_j mean_j (P̄_s,ij - P̄_s,ji)``: how far the one lottery we would deploy
        is from unbeatable, draw by draw.
    type_win_rates : ndarray (S, P, K)
        Type k's win rate of the mean lottery under draw s: the probability (ties half)
        that a draw from the lottery beats a uniformly random candidate of the prompt,
        with type k's preferences of draw s (as ``compare_rules``' ``vs_uniform``).
    type_win_rates_draw : ndarray (S, P, K)
        The same for each draw's own lottery (the rule's outcome re-decided per draw).
    weights : ndarray (P, K)
    prompts, candidates, mask
        As in the profile.
    metadata : dict
        ``n_draws``, ``batched`` (True: draws stacked as prompts), ``options``.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> draws = np.array([[[[1.0, 0.0]]], [[[1.0, 0.0]]], [[[0.0, 1.0]]]])   # 3 draws, 2 candidates
    >>> prof = mp.Profile.from_rewards(draws.mean(0), [1.0], reward_samples=draws)
    >>> post = aggregate_posterior(prof, "borda")
    >>> post.winner_probability.round(3).tolist(), post.mean.probs.round(3).tolist()
    ([[0.667, 0.333]], [[0.667, 0.333]])
    """

    def __init__(self, rule, draws, scores, profile, metadata, exploitability, win_mean, win_draw):
        self.rule = rule
        self.draws = draws
        self.weights = profile.weights
        self.prompts, self.candidates, self.mask = profile.prompts, profile.candidates, profile.mask
        self.metadata = dict(metadata)
        mean = draws.mean(axis=0)
        with warnings.catch_warnings():
            # a candidate with no finite score in any draw keeps NaN ("mean of empty slice")
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_scores = np.nanmean(np.where(np.isfinite(scores), scores, np.nan), axis=0)
        self.mean = Lottery(
            mean,
            np.where(self.mask, mean_scores, np.nan),
            rule,
            metadata={"posterior": True, **self.metadata},
            prompts=profile.prompts,
            candidates=profile.candidates,
            mask=profile.mask,
            pairwise=profile.pooled(),
        )
        self.support_probability = np.where(self.mask, (draws > SUPPORT_TOL).mean(axis=0), 0.0)
        top = draws.max(axis=2, keepdims=True)
        is_top = (draws >= top - SUPPORT_TOL) & self.mask[None]
        self.winner_probability = (is_top / is_top.sum(axis=2, keepdims=True)).mean(axis=0)
        self.exploitability = exploitability
        self.type_win_rates = win_mean
        self.type_win_rates_draw = win_draw
        self._profile = profile  # kept (not copied) for the pairwise posteriors below

    @property
    def n_draws(self):
        return self.draws.shape[0]

    def __repr__(self):
        s, p, m = self.draws.shape
        return f"LotteryPosterior(rule={self.rule!r}, {s} draws, {p} prompts, up to {m} candidates)"

    def win_rate_interval(self, level=0.9, per_prompt=False, lottery="mean"):
        """Equal-tailed credible intervals of each type's win rate against the lottery.

        Parameters
        ----------
        level : float in (0, 1), default 0.9
        per_prompt : bool, default False
            False: per type, the win rate averaged over the prompts where the type has
            positive weight (one number per draw, then its quantiles). True: one interval
            per prompt and type.
        lottery : {"mean", "draw"}, default "mean"
            ``"mean"``: the posterior mean lottery judged under each draw (how sure we are
            of how the lottery we deploy serves each type); ``"draw"``: each draw's own
            lottery under that draw (the uncertainty of the rule's outcome itself).

        Returns
        -------
        pandas.DataFrame
            Columns ``type``, ``mean``, ``lower``, ``upper``, ``level`` (and ``prompt_id``
            with ``per_prompt=True``). The win rate is the probability (ties half) that a
            draw from the lottery beats a uniformly random candidate of the prompt, so the
            uniform lottery scores 1/2.
        """
        if not (isinstance(level, (int, float)) and 0 < level < 1):
            raise DataError(f"level: got {level!r}; expected a credible level in (0, 1)")
        if lottery not in ("mean", "draw"):
            raise DataError(f"lottery: got {lottery!r}; expected 'mean' or 'draw'")
        w = self.type_win_rates if lottery == "mean" else self.type_win_rates_draw  # (S, P, K)
        lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
        active = self.weights > 0
        if per_prompt:
            p_idx, k_idx = np.nonzero(active)
            vals = w[:, p_idx, k_idx]
            return pd.DataFrame(
                {
                    "prompt_id": np.asarray(self.prompts)[p_idx],
                    "type": k_idx,
                    "mean": vals.mean(axis=0),
                    "lower": np.quantile(vals, lo_q, axis=0),
                    "upper": np.quantile(vals, hi_q, axis=0),
                    "level": level,
                }
            )
        counts = active.sum(axis=0)
        per_draw = np.einsum("spk,pk->sk", w, active) / np.maximum(counts, 1)  # (S, K)
        per_draw[:, counts == 0] = np.nan
        return pd.DataFrame(
            {
                "type": np.arange(w.shape[2]),
                "mean": per_draw.mean(axis=0),
                "lower": np.quantile(per_draw, lo_q, axis=0),
                "upper": np.quantile(per_draw, hi_q, axis=0),
                "level": level,
            }
        )

    def preference_probability(self):
        """Posterior probability that the population prefers i to j, (P, M, M).

        The fraction of draws whose pooled matrix has ``P̄_s(i beats j) > P̄_s(j beats i)``
        (0 on the diagonal and at padding): how sure the data make us of each pairwise
        preference the targets would teach.
        """
        pooled = self._profile.pooled_samples()
        pair = self._profile._pair_mask()
        return np.where(pair, (pooled > np.swapaxes(pooled, -1, -2)).mean(axis=0), 0.0)

    def pairwise_quantile(self, q):
        """The ``q``-quantile over draws of ``P̄_s(i beats j)``, (P, M, M); e.g. ``q=0.05`` is a
        lower credible bound of each soft label. NaN on the diagonal and at padding."""
        if not (isinstance(q, (int, float)) and 0 <= q <= 1):
            raise DataError(f"q: got {q!r}; expected a quantile level in [0, 1]")
        out = np.quantile(self._profile.pooled_samples(), q, axis=0)
        return np.where(self._profile._pair_mask(), out, np.nan)

    def to_frame(self):
        """One row per real candidate: ``prompt_id, response_id, prob`` (posterior mean),
        ``prob_sd``, ``support_probability``, ``winner_probability``."""
        p_idx, c_idx = np.nonzero(self.mask)
        return pd.DataFrame(
            {
                "prompt_id": np.asarray(self.prompts)[p_idx],
                "response_id": self.candidates[p_idx, c_idx],
                "prob": self.mean.probs[p_idx, c_idx],
                "prob_sd": self.draws.std(axis=0)[p_idx, c_idx],
                "support_probability": self.support_probability[p_idx, c_idx],
                "winner_probability": self.winner_probability[p_idx, c_idx],
            }
        )


def _stacked_profile(profile, draws_idx, rewards, pooled_only):
    """Draws ``draws_idx`` of ``profile`` stacked as prompts: one profile of len(idx) * P prompts.

    For rules that read only the pooled matrix, each draw's pooled matrix is one type: the
    same lottery (the registry's promise for ``reads="pooled"``) for 1/K of the memory.
    Built as a copy of the profile with its arrays replaced, not through ``Profile(...)``:
    the samples were checked when the profile was built, and re-checking a million stacked
    prompts (with a Python loop over prompts for the default candidate ids) would cost
    more than most rules.
    """
    n = len(draws_idx)
    s = profile.samples[draws_idx]
    if pooled_only:
        mats = np.einsum("pk,spkij->spij", profile.weights, s).reshape(-1, 1, *s.shape[-2:])
        weights = np.ones((mats.shape[0], 1))
    else:
        mats = s.reshape(-1, *s.shape[2:])
        weights = np.tile(profile.weights, (n, 1))
    out = copy.copy(profile)
    out.matrices, out.weights = mats, weights
    out.mask = np.tile(profile.mask, (n, 1))
    out.candidates = np.tile(profile.candidates, (n, 1))
    out.prompts = pd.RangeIndex(mats.shape[0], name="prompt_id")
    out.rewards = None if rewards is None else rewards[draws_idx].reshape(-1, *rewards.shape[2:])
    out.samples = None
    for extra in ("texts", "reward_samples"):  # per-candidate extras the rules never read
        if hasattr(out, extra):
            setattr(out, extra, None)
    return out


def _draw_profile(profile, s, rewards):
    """Draw ``s`` alone as a profile with the original prompts and candidates (the looped path)."""
    return Profile(
        profile.samples[s],
        profile.weights,
        candidates=profile.candidates,
        prompts=profile.prompts,
        rewards=None if rewards is None else rewards[s],
        mask=profile.mask,
        ties=profile.ties,
    )


def _win_rates_against(profile, samples, probs):
    """Type k's win rate (ties half) of lottery ``probs`` vs a uniform candidate, under ``samples``.

    samples (B, P, K, M, M), probs (B, P, M) -> (B, P, K).
    """
    # u_k(i) = mean over real j of (1 + P_ij - P_ji) / 2 = 1/2 + (row sum - column sum) / 2n:
    # diagonal and padding entries are 1/2 on both sides and cancel, so no mask is needed
    diff = np.einsum("...ij->...i", samples) - np.einsum("...ji->...i", samples)  # einsum: 3x faster than sum
    u = 0.5 + diff / (2.0 * profile.n_candidates[None, :, None, None])
    return np.einsum("bpki,bpi->bpk", u, probs)


def aggregate_posterior(profile, rule, study=None, batch=True, draws_per_batch=None, **options):
    """Apply a rule to every posterior draw of a profile.

    Parameters
    ----------
    profile : Profile
        With posterior draws (``profile.samples``: a model fitted with ``inference="svi"``,
        ``"ensemble"`` or ``"laplace"``, then ``model.profile(...)``).
    rule : str
        Any rule of :func:`mixpref.aggregate` except ``quantile`` (which already reads the
        draws). ``maximal_lottery`` defaults to ``method="selfplay"`` here (one batched
        self-play run over draws x prompts); pass ``method="lp"`` for exact LPs.
    study : Study, run, None or False
        Where the mean lottery is logged (as :func:`mixpref.aggregate`); the per-draw runs
        are never logged.
    batch : bool, default True
        Stack draws as prompts and run the rule once (True), or run it once per draw (False,
        slower; the same answer).
    draws_per_batch : int, optional
        Draws per stacked run (default: all); lower it to bound memory, which grows like
        draws x prompts x types x candidates².
    **options
        The rule's options, as in :func:`mixpref.aggregate`. Rules that read rewards
        (``utility="reward"``) use each draw's rewards (see
        :func:`mixpref.aggregation.effective.reward_draws`).

    Returns
    -------
    LotteryPosterior

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> rng = np.random.default_rng(0)
    >>> rewards = rng.normal(size=(2, 2, 3))                        # 2 prompts, 2 types, 3 candidates
    >>> draws = rewards + 0.3 * rng.normal(size=(50, 2, 2, 3))      # 50 posterior draws
    >>> prof = mp.Profile.from_rewards(rewards, [0.5, 0.5], reward_samples=draws)
    >>> post = aggregate_posterior(prof, "borda")
    >>> post.draws.shape, post.winner_probability.sum(axis=1).round(6).tolist()
    ((50, 2, 3), [1.0, 1.0])
    >>> table = post.win_rate_interval(level=0.9)
    >>> bool((table["lower"] <= table["mean"]).all() and (table["mean"] <= table["upper"]).all())
    True
    """
    if not isinstance(profile, Profile):
        raise DataError(f"profile: expected a mixpref Profile, got {type(profile).__name__}")
    if profile.samples is None:
        raise DataError(f"posterior=True: {NO_DRAWS}")
    from .registry import get_rule
    from .selfplay import exploitability

    spec = get_rule(rule)
    if spec.needs_samples:
        raise DataError(f"rule {rule!r} already reads the posterior draws; use mp.aggregate(profile, {rule!r})")
    if rule == "maximal_lottery":
        options.setdefault("method", "selfplay")
    spec.check_options(options)
    reason = spec.unmet(profile, options)
    if reason is not None:
        raise DataError(f"rule {rule!r}: {reason}")
    n_draws = profile.samples.shape[0]
    if draws_per_batch is None:
        draws_per_batch = n_draws
    if not (isinstance(draws_per_batch, (int, np.integer)) and draws_per_batch >= 1):
        raise DataError(f"draws_per_batch: got {draws_per_batch!r}; expected a positive integer")
    rewards = reward_draws(profile) if spec.needs_rewards(options) else None
    n_prompts, _, n_cands = profile.shape
    probs = np.empty((n_draws, n_prompts, n_cands))
    scores = np.empty((n_draws, n_prompts, n_cands))
    if batch:
        for start in range(0, n_draws, draws_per_batch):
            idx = np.arange(start, min(start + draws_per_batch, n_draws))
            # the raw rule: no Lottery (nor its pooled matrix) for a million stacked prompts
            stacked = _stacked_profile(profile, idx, rewards, pooled_only=spec.reads == "pooled")
            p_s, sc_s, _ = spec.compute(stacked, **options)
            probs[idx] = p_s.reshape(len(idx), n_prompts, n_cands)
            scores[idx] = sc_s.reshape(len(idx), n_prompts, n_cands)
    else:
        for s in range(n_draws):
            lot = spec.func(_draw_profile(profile, s, rewards), **options)
            probs[s], scores[s] = lot.probs, lot.scores
    mean = probs.mean(axis=0)
    expl = np.empty((n_draws, n_prompts))
    win_mean = np.empty((n_draws, n_prompts, profile.n_types))
    win_draw = np.empty_like(win_mean)
    # blocks of about 100,000 prompt-draws: the win-rate temporaries are as large as the samples
    block = max(1, min(draws_per_batch, _SUMMARY_BLOCK // n_prompts))
    for start in range(0, n_draws, block):
        sl = slice(start, min(start + block, n_draws))
        samples = profile.samples[sl]
        pooled = np.einsum("pk,spkij->spij", profile.weights, samples)
        game = (pooled - np.swapaxes(pooled, -1, -2)).reshape(-1, n_cands, n_cands)
        n_sl = samples.shape[0]
        expl[sl] = exploitability(game, np.tile(mean, (n_sl, 1)), np.tile(profile.mask, (n_sl, 1))).reshape(n_sl, -1)
        win_mean[sl] = _win_rates_against(profile, samples, np.broadcast_to(mean, (n_sl, *mean.shape)))
        win_draw[sl] = _win_rates_against(profile, samples, probs[sl])
    meta = {"n_draws": n_draws, "batched": bool(batch), "options": dict(options)}
    post = LotteryPosterior(rule, probs, scores, profile, meta, expl, win_mean, win_draw)
    emit("aggregate", lottery=post.mean, rule=rule, options=dict(options, posterior=True), study=study)
    return post
