import numpy as np
import pandas as pd
import pytest
import torch

import mixpref as mp


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # the models' tensors are small; one thread avoids oversubscription on shared CI machines
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_data(a, b, y, annotator=None, response_prompt=None, n_responses=None, rankings=None, rank_annotator=None):
    """PreferenceData over responses 'r0'..'r{n-1}' from integer-coded comparisons (and rankings)."""
    a, b, y = np.asarray(a), np.asarray(b), np.asarray(y, dtype=float)
    n = n_responses if n_responses is not None else int(max(a.max(), b.max())) + 1
    response_prompt = np.zeros(n, dtype=int) if response_prompt is None else np.asarray(response_prompt)
    responses = pd.DataFrame({"response_id": [f"r{i}" for i in range(n)],
                              "prompt_id": [f"p{j}" for j in response_prompt], "text": [f"r{i}" for i in range(n)]})
    label = np.where(y == 1.0, "a", np.where(y == 0.0, "b", "tie"))
    frame = pd.DataFrame({"prompt": [f"p{response_prompt[i]}" for i in a], "response_a": [f"r{i}" for i in a],
                          "response_b": [f"r{i}" for i in b], "label": label})
    if annotator is not None:
        frame["annotator"] = [f"u{k}" if k >= 0 else None for k in annotator]
    data = mp.PreferenceData.from_frame(frame, annotator="annotator" if annotator is not None else None,
                                        responses=responses)
    if rankings is not None:
        rframe = pd.DataFrame({"prompt": [f"p{response_prompt[r[0]]}" for r in rankings],
                               "ranking": [[f"r{i}" for i in r] for r in rankings]})
        if rank_annotator is not None:
            rframe["annotator"] = [f"u{k}" for k in rank_annotator]
        data = mp.PreferenceData.from_rankings(rframe, annotator="annotator" if rank_annotator is not None else None,
                                               responses=responses)
    return data


def features_for(data, embeddings, logp_ref=None):
    """Features whose row i belongs to response 'r{i}' (the data may order its responses differently)."""
    return mp.Features([f"r{i}" for i in range(len(embeddings))], embeddings, logp_ref)
