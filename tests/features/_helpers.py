"""Shared test helpers: a stand-in for PreferenceData and a forward-pass counter."""

from pathlib import Path

import pandas as pd

UKP_CSV = Path(__file__).resolve().parents[2] / "data" / "ukpconvarg1" / "ukpconvarg1_arguments.csv"


def ukp_texts(n):
    """The first n UKPConvArg1 argument texts."""
    return pd.read_csv(UKP_CSV)["text"].astype(str).head(n).tolist()


class StandIn:
    """The two tables of a PreferenceData that features use."""

    def __init__(self, prompts, responses):
        self.prompts = pd.DataFrame({"prompt_id": list(prompts), "text": list(prompts.values())})
        self.responses = pd.DataFrame(
            [(rid, pid, text) for rid, (pid, text) in responses.items()], columns=["response_id", "prompt_id", "text"]
        )


def stand_in():
    return StandIn(
        {"p1": "Should plastic water bottles be banned?", "p2": "Is the economy good?"},
        {
            "r1": ("p1", "Yes, they are bad for the water."),
            "r2": ("p1", "No, people buy a million of them."),
            "r3": ("p2", "It is in a recession."),
            "r4": ("p2", "Yes, it is good."),
        },
    )


class ForwardCounter:
    """Counts forward calls and rows through a module; can raise on the n-th call."""

    def __init__(self, module, fail_on=None):
        self.calls = 0
        self.rows = 0
        self.fail_on = fail_on
        self.handle = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise KeyboardInterrupt("simulated interruption")
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.rows += int(ids.shape[0])
