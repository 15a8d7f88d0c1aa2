"""Synthetic preference data in which every comparison has two fresh responses (the frontier-data shape).

``mp.synthetic.population`` reuses a small pool of responses (1,000 by default), which hides
the cost of multiplying every response embedding; here comparison i is about responses
``2i`` and ``2i + 1`` of its own prompt. Unit-norm embeddings, K annotator types (weights
0.5/0.3/0.2 for K = 3), reward vectors scaled so that the true logits have standard
deviation ``logit_sd``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def fresh_population(n, dim=384, n_annotators=2000, n_types=3, logit_sd=1.16, random_state=0,
                     features_dtype=np.float32):
    """``(data, features, types)``: ``n`` comparisons, ``2 n`` responses, each annotator's true type."""
    import mixpref as mp
    from mixpref.data.arrays import ComparisonArrays

    rng = np.random.default_rng(random_state)
    weights = {1: [1.0], 2: [0.6, 0.4], 3: [0.5, 0.3, 0.2]}.get(n_types) or list(np.linspace(2, 1, n_types) / np.linspace(2, 1, n_types).sum())
    types = rng.choice(n_types, size=n_annotators, p=weights)
    directions = rng.standard_normal((n_types, dim))
    # unit-norm x: var(v . x) = |v|^2 / d, so a logit (difference of two) has sd |v| sqrt(2 / d)
    v = directions / np.linalg.norm(directions, axis=1, keepdims=True) * logit_sd * np.sqrt(dim / 2.0)
    emb = np.empty((2 * n, dim), dtype=features_dtype)
    block = 262144
    for start in range(0, 2 * n, block):
        x = rng.standard_normal((min(block, 2 * n - start), dim))
        emb[start:start + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    annotator = rng.integers(0, n_annotators, size=n)
    a = np.arange(0, 2 * n, 2, dtype=np.int64)
    b = a + 1
    y = np.empty(n)
    for start in range(0, n, block):
        sl = slice(start, min(start + block, n))
        vt = v[types[annotator[sl]]]
        logit = np.einsum("nd,nd->n", emb[a[sl]].astype(np.float64) - emb[b[sl]], vt)
        y[sl] = (rng.random(len(logit)) < 1.0 / (1.0 + np.exp(-logit))).astype(float)
    prompt = np.arange(n, dtype=np.int64)
    prompts = pd.DataFrame({"prompt_id": prompt, "text": None})
    responses = pd.DataFrame({"response_id": np.arange(2 * n), "prompt_id": np.repeat(prompt, 2), "text": None})
    annotators = pd.Index(np.arange(n_annotators))
    data = mp.PreferenceData(prompts, responses, annotators, ComparisonArrays(prompt, a, b, y, annotator))
    features = mp.Features.__new__(mp.Features)  # skip the constructor's float32 copy of a large array
    features.ids, features.embeddings, features.logp_ref, features.item_names = pd.Index(np.arange(2 * n)), emb, None, None
    return data, features, types
