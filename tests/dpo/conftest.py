"""A tiny random causal LM and tokenizer, built offline, saved to a temporary folder."""

import pandas as pd
import pytest

WORDS = "good bad fine great poor yes no maybe answer question the a is it cat dog sun rain".split()


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    """Folder of a tiny random causal LM (GPT-2 config) with its tokenizer."""
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from mixpref.dpo.tiny import tiny_causal_lm

    return tiny_causal_lm(tmp_path_factory.mktemp("tiny_lm"), n_positions=64)


@pytest.fixture()
def text_pairs():
    """16 (prompt, chosen, rejected) text pairs with soft labels and weights."""
    rows = []
    for i in range(16):
        q = WORDS[i % len(WORDS)]
        rows.append({
            "prompt": f"question {q} is it",
            "chosen": f" good answer {WORDS[(i + 3) % len(WORDS)]}",
            "rejected": f" bad {WORDS[(i + 5) % len(WORDS)]} no",
            "p_chosen": 0.6 + 0.02 * i,
            "weight": 1.0,
        })
    return pd.DataFrame(rows)
