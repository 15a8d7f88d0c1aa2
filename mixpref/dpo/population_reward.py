"""A fitted population and a social-choice rule as a reward function for TRL's on-policy trainers.

TRL's ``GRPOTrainer`` and ``RLOOTrainer`` call ``reward_func(prompts=, completions=,
completion_ids=, **columns)`` on a batch holding several completions of each prompt; that
group is a candidate set. :class:`PopulationReward` embeds the completions, asks the
population's types for their rewards, builds the profile over each group, applies the rule
and returns one float per completion: self-play preference optimisation (a completion's
reward is its win rate against the policy's own samples, as in SPO/SPPO) with a population
and an explicit rule in place of one preference model.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np

from ..aggregation.registry import rule_specs
from ..errors import DataError

REWARDS = ("win_rate", "lottery")


def _text(value, what, row):
    """A prompt or completion as text: a string, or a conversation (list of messages) joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(m, dict) and "content" in m for m in value):
        return "\n".join(str(m["content"]) for m in value)
    raise DataError(f"{what}[{row}]: got {type(value).__name__}, expected text or a list of messages with 'content'")


class PopulationReward:
    """Reward of each completion under a population of annotator types and a rule.

    Parameters
    ----------
    model : fitted mixpref model, or callable
        A fitted model (``model.rewards(features)``: (K, n) per-type rewards, or (n,) for one
        type; ``model.weights_`` the type weights), or a callable ``f(embeddings) -> (K, n)``
        with ``weights`` given.
    rule : str
        A rule of :func:`mixpref.aggregate` (``pooled``, ``maximal_lottery``, ``maxmin``, ...).
    reward : {"win_rate", "lottery"}
        ``win_rate``: the completion's expected win rate (ties half) against a uniformly drawn
        member of its group, itself included, under the rule's view of the population: the
        type-weighted mean for pooled-view rules, the worst type's for ``maxmin``,
        ``minmax_regret`` and ``quantile``. ``lottery``: the completion's mass in the rule's
        lottery over the group.
    encoder : "minilm", TextEncoder or callable
        Embeds ``template``-rendered (prompt, completion) texts; a callable takes a list of
        str and returns an (n, d) array.
    template : str
        How a prompt and a completion become one text (as ``TextEncoder.template``).
    reference : callable, optional
        ``f(prompts, completions) -> (n,)`` reference log-probabilities, for models whose
        reward reads them (policy-likelihood with a learned α).
    weights : array-like (K,), optional
        Type weights when ``model`` is a callable (default: ``model.weights_``).
    rule_options : dict, optional
        Passed to ``mp.aggregate``.
    cache_size : int
        Embeddings kept (by text) between calls; GRPO scores each prompt's completions once,
        but evaluation and repeated samples hit the cache.

    Attributes
    ----------
    timings_ : dict
        Seconds spent in the last call: ``encode``, ``rewards``, ``aggregate``, ``total``.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> theta = np.array([[1.0, 0.0], [0.0, 1.0]])        # two types, each likes one feature
    >>> enc = lambda texts: np.array([[t.count("a"), t.count("b")] for t in texts], float)
    >>> f = mp.dpo.PopulationReward(lambda phi: theta @ phi.T, weights=[0.5, 0.5], encoder=enc, template="{response}")
    >>> [round(x, 3) for x in f(["q", "q"], ["aa", "b"])]
    [0.537, 0.463]
    """

    def __init__(self, model, rule="pooled", reward="win_rate", encoder="minilm", template="{prompt}\n\n{response}",
                 reference=None, weights=None, rule_options=None, cache_size=100_000):
        if reward not in REWARDS:
            raise DataError(f"reward: got {reward!r}, expected one of {', '.join(REWARDS)}")
        if not (callable(model) or hasattr(model, "rewards")):
            raise DataError(f"model: got {type(model).__name__}, expected a fitted mixpref model or a callable")
        self.model, self.rule, self.reward = model, str(rule), reward
        self.encoder, self.template, self.reference = encoder, template, reference
        self.rule_options = dict(rule_options or {})
        self.weights = weights
        self.cache_size = int(cache_size)
        self._cache = OrderedDict()
        self.timings_ = {}
        # TRL logs each reward function under its __name__
        self.__name__ = f"population_{self.rule}_{reward}"

    # -- pieces ------------------------------------------------------------------------
    def _encode(self, texts):
        if isinstance(self.encoder, str):
            from ..features.text_encoder import TextEncoder

            self.encoder = TextEncoder(self.encoder)
        encode = self.encoder.encode if hasattr(self.encoder, "encode") else self.encoder
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            values = np.asarray(encode(missing), dtype=np.float32)
            if values.ndim != 2 or values.shape[0] != len(missing):
                raise DataError(f"encoder: returned shape {values.shape} for {len(missing)} texts; expected (n, d)")
            for t, v in zip(missing, values):
                self._cache[t] = v
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return np.stack([self._cache[t] for t in texts])

    def _type_rewards(self, phi, prompts, completions):
        if hasattr(self.model, "rewards"):
            from ..data.features import Features

            logp = None if self.reference is None else np.asarray(self.reference(prompts, completions), dtype=np.float64)
            r = np.asarray(self.model.rewards(Features(list(range(len(phi))), phi, logp_ref=logp)), dtype=np.float64)
            weights = self.weights if self.weights is not None else getattr(self.model, "weights_", None)
        else:
            r = np.asarray(self.model(phi), dtype=np.float64)
            weights = self.weights
        r = r[None] if r.ndim == 1 else r
        if r.ndim != 2 or r.shape[1] != len(phi):
            raise DataError(f"model: rewards of shape {r.shape} for {len(phi)} completions; expected (types, completions)")
        weights = np.ones(r.shape[0]) / r.shape[0] if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        if weights.shape != (r.shape[0],):
            raise DataError(f"weights: got {weights.shape[0]} for {r.shape[0]} types")
        return r, weights

    # -- the reward function -------------------------------------------------------------
    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        """One reward per completion; ``prompts[i]`` is the prompt of ``completions[i]``."""
        import mixpref as mp

        start = time.perf_counter()
        prompts, completions = list(prompts), list(completions)
        if len(prompts) != len(completions):
            raise DataError(
                f"completions: got {len(completions)} for {len(prompts)} prompts; expected one prompt per completion "
                "(TRL repeats each prompt once per generation)"
            )
        if completion_ids is not None and len(completion_ids) != len(completions):
            raise DataError(f"completion_ids: got {len(completion_ids)} for {len(completions)} completions")
        if not completions:
            return []
        p_text = [_text(p, "prompts", i) for i, p in enumerate(prompts)]
        c_text = [_text(c, "completions", i) for i, c in enumerate(completions)]
        render = (lambda p, c: self.template.format(prompt=p, response=c)) if isinstance(self.template, str) else self.template
        phi = self._encode([render(p, c) for p, c in zip(p_text, c_text)])
        t_enc = time.perf_counter()
        r, weights = self._type_rewards(phi, p_text, c_text)
        t_rew = time.perf_counter()

        # groups: the completions of one prompt, in order of first appearance
        keys = list(dict.fromkeys(p_text))
        index = {k: g for g, k in enumerate(keys)}
        members = [[] for _ in keys]
        for i, k in enumerate(p_text):
            members[index[k]].append(i)
        profile = mp.Profile.from_rewards([r[:, m] for m in members], weights)
        out = np.empty(len(completions))
        if self.reward == "lottery":
            lottery = mp.aggregate(profile, self.rule, **self.rule_options)
            values = lottery.probs
        else:
            u = profile.utilities("winrate")  # (G, K, M): each type's win rate against a uniform group member
            # a worst-case rule views a candidate through its worst-off type; the rest read the pooled view
            if self.rule in {s.name for s in rule_specs() if s.worst_case}:
                values = np.where(profile.weights[:, :, None] > 0, u, np.inf).min(axis=1)
            else:
                values = np.einsum("gk,gkm->gm", profile.weights, u)
        for g, m in enumerate(members):
            out[m] = values[g, : len(m)]
        end = time.perf_counter()
        self.timings_ = {"encode": t_enc - start, "rewards": t_rew - t_enc, "aggregate": end - t_rew, "total": end - start}
        return out.tolist()
