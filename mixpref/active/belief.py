"""What a fitted model believes, in the one shape every objective reads.

Every model is seen as K basis rewards (a mixture's types, a low-rank model's basis, a
single model's one reward) with posterior draws ``basis`` (S, K, n) of them (S = 1: the
point estimate), and a set of *hypotheses* about a person, each a weight vector over the
basis (a mixture's types: the identity; a low-rank model's population atoms, plus the own
weights of trained persons). Each candidate row has a posterior ``mix`` over hypotheses:
its annotator's type posterior (or atom posterior after ``adapt``), or the population
prior for an annotator the model has not seen. The population as voters (for the decision
objective) is the first ``n_voters`` hypotheses with weights ``voter_weights``, or, when the
posterior carries the type weights (a mixture's Laplace, SVI or ensemble draws of its
logits), with each draw's own weights ``voter_draws``: an outcome that hinges on who is the
majority is then as uncertain as the weights are.

A row's hypothesis (its annotator's type) is a persistent unknown when the model assigns
types per annotator (every answer of that annotator shares it), and fresh noise per answer
when it assigns them per observation (``per_answer_types``); BALD counts the former as
something the answer can teach, the latter not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from ..models._base import draw_indices


@dataclass
class Belief:
    basis: np.ndarray  # (S, K, n) basis rewards (draws; S = 1 without a posterior)
    hypotheses: np.ndarray  # (H, K) weight vectors over the basis
    mix: np.ndarray  # (P, H) posterior over hypotheses for each candidate row
    voter_weights: np.ndarray  # (V,) weights of hypotheses 0..V-1 as the population's voters
    new_annotator: np.ndarray  # (P,) bool: the row's annotator is unknown to the model (population prior)
    has_draws: bool
    point: np.ndarray = None  # (1, K, n) the point estimate (the type objective reads it)
    voter_draws: np.ndarray = None  # (S, V) voter weights in each draw (None: voter_weights in every draw)
    per_answer_types: bool = False  # the row's hypothesis is drawn afresh for every answer (level="observation")

    def __post_init__(self):
        if self.point is None:
            self.point = self.basis.mean(axis=0, keepdims=True)


def _linear_draws(model, features, n_draws, random_state):
    """(S, K, n) reward draws of a linear BT-type model as one BLAS product (None when not linear).

    The same draws as ``model.sample_rewards`` (same indices of the stored samples), without
    a torch call per draw: the per-draw loop dominated the time of scoring a large pool.
    """
    spec = getattr(model, "lowrank_spec_", None)
    spec = spec.basis if spec is not None else model.spec_
    samples = model.posterior_samples_
    if spec.reward != "linear" or spec.kind != "bt" or "theta" not in samples or getattr(spec, "type_scale", None):
        return None
    theta = samples["theta"].double().numpy()
    theta = theta[:, None] if theta.ndim == 2 else theta  # (stored, K, d)
    idx = draw_indices(len(theta), n_draws, random_state)
    emb = np.asarray(features.embeddings, dtype=np.float64)
    S, K, d = len(idx), theta.shape[1], theta.shape[2]
    return (emb @ theta[idx].reshape(S * K, d).T).T.reshape(S, K, len(emb))


def _weight_draws(model, n_draws, random_state):
    """(S, K) type weights of the same stored draws as the reward draws (None: the posterior has no logits)."""
    samples = getattr(model, "posterior_samples_", None)
    if samples is None or "logits" not in samples or hasattr(model, "lowrank_spec_"):
        return None
    logits = samples["logits"].double().numpy()
    if logits.ndim != 2 or logits.shape[1] < 2:
        return None
    # the same indices as _linear_draws and model.sample_rewards (same seed, same call)
    idx = draw_indices(len(logits), n_draws, random_state)
    z = logits[idx] - logits[idx].max(axis=1, keepdims=True)
    w = np.exp(z)
    return w / w.sum(axis=1, keepdims=True)


def _basis_draws(model, features, n_draws, random_state, need_draws, objective):
    point = np.asarray(model.rewards(features), dtype=np.float64)
    point = point[None] if point.ndim == 1 else point
    if getattr(model, "posterior_samples_", None) is None:
        if need_draws:
            raise DataError(
                f"objective={objective!r} needs posterior draws, but the model has none (fitted with "
                f"inference={model._options().get('inference', 'map')!r}); refit with inference='svi', 'ensemble' "
                "or 'laplace', or use objective='type', 'uncertainty' or 'random'")
        return point[None], point[None], False
    if not need_draws and objective == "type":
        return point[None], point[None], False
    draws = _linear_draws(model, features, n_draws, random_state)
    if draws is None:
        draws = np.asarray(model.sample_rewards(int(n_draws), features, random_state=random_state), dtype=np.float64)
        draws = draws[:, None] if draws.ndim == 2 else draws
    return draws, point[None], True


def belief_of(model, features, row_annotators, *, n_draws=64, random_state=0, need_draws=False, objective=""):
    """The :class:`Belief` of ``model`` about each candidate row (``row_annotators``: ids or None each)."""
    if not hasattr(model, "params_"):
        raise DataError(f"model: {type(model).__name__} is not fitted; fit it before asking what to ask")
    basis, point, has_draws = _basis_draws(model, features, n_draws, random_state, need_draws, objective)
    K = basis.shape[1]
    known = pd.Index(getattr(model, "annotators_", pd.Index([])))
    rows = pd.Index([a if a is not None and a == a else None for a in row_annotators], dtype=object)
    pos = known.get_indexer(rows) if len(known) else np.full(len(rows), -1)
    new = pos < 0
    if hasattr(model, "lowrank_spec_"):
        atoms = model.params_["atoms"].double().numpy()
        prior = np.exp(model.params_["atom_logw"].double().numpy())
        adapted = np.exp(model.params_["adapted_logpost"].double().numpy())
        n_trained = len(known) - len(adapted)
        trained = np.unique(pos[(pos >= 0) & (pos < n_trained)])
        own = np.asarray(model._resp)[trained] if len(trained) else np.zeros((0, K))
        hyp = np.vstack([atoms, own])
        mix = np.zeros((len(rows), len(hyp)))
        mix[new, : len(atoms)] = prior / prior.sum()
        is_adapted = pos >= n_trained
        mix[is_adapted, : len(atoms)] = adapted[pos[is_adapted] - n_trained]
        is_trained = (pos >= 0) & ~is_adapted
        mix[np.flatnonzero(is_trained), len(atoms) + np.searchsorted(trained, pos[is_trained])] = 1.0
        voters = prior / prior.sum()
    else:
        hyp = np.eye(K)
        w = np.asarray(getattr(model, "weights_", np.ones(1)), dtype=np.float64).reshape(-1)
        w = w if len(w) == K else np.ones(K)
        voters = w / w.sum()
        mix = np.tile(voters, (len(rows), 1))
        if K > 1 and len(known) and (~new).any():
            resp = model.responsibilities_.to_numpy()
            mix[~new] = resp[pos[~new]]
    voter_draws = _weight_draws(model, basis.shape[0], random_state) if has_draws else None
    per_answer = getattr(getattr(model, "spec_", None), "level", "annotator") == "observation"
    return Belief(basis, hyp, mix, voters, new, has_draws, point, voter_draws=voter_draws, per_answer_types=per_answer)
