"""``mixpref export``: turn an aggregate into DPO training pairs on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .._io import write_table
from ..errors import DataError
from .errors import user_errors
from .options import load_data, with_data_options
from .runlog import TRACKING_HELP

_OUT_FORMATS = (".jsonl", ".parquet", ".csv")


def _as_str_ids(lottery, data):
    """Compare ids as strings: a CSV round trip turns 7 into '7' on one side only."""
    import numpy as np
    import pandas as pd

    cands = np.array([[None if c is None else str(c) for c in row] for row in lottery.candidates], dtype=object)
    lottery.candidates = cands
    lottery.prompts = pd.Index([str(p) for p in lottery.prompts], name="prompt_id")
    table = data.responses[["prompt_id", "response_id", "text"]].rename(columns={"text": "response"})
    table = table.assign(prompt_id=table["prompt_id"].map(str), response_id=table["response_id"].map(str))
    prompt_text = dict(zip(data.prompts["prompt_id"].map(str), data.prompts["text"]))
    table["prompt"] = table["prompt_id"].map(prompt_text)
    return lottery, table


def export_command(
    data_path: Annotated[str, typer.Argument(metavar="DATA", help="The preference data (file or bundled dataset name): where texts come from.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output file: .jsonl, .parquet or .csv.")],
    lottery: Annotated[Optional[str], typer.Option("--lottery", help="A lottery file (mixpref aggregate --out, .csv/.parquet/.jsonl).")] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", help="A profile .npz (Profile.save); needs --rule.")] = None,
    rule: Annotated[Optional[str], typer.Option("--rule", help="Rule applied to --profile (e.g. maximal_lottery).")] = None,
    strategy: Annotated[str, typer.Option("--strategy", help="winner_vs_rest, all_pairs or sampled.")] = "winner_vs_rest",
    n_pairs: Annotated[Optional[int], typer.Option("--n-pairs", help="Pairs per prompt.")] = None,
    min_margin: Annotated[float, typer.Option("--min-margin", help="Drop pairs whose lottery margin is below this.")] = 0.0,
    labels: Annotated[Optional[str], typer.Option(
        "--labels", help="p_chosen from the aggregate's 'pairwise' preference or soft labels whose DPO optimum is the 'lottery'.")] = None,
    beta: Annotated[Optional[float], typer.Option(
        "--beta", help="The DPO trainer's beta: soft labels (--labels lottery) whose optimum at this beta is the lottery.")] = None,
    resample: Annotated[bool, typer.Option(
        "--resample-soft-labels", help="Flip each pair with probability 1 - p_chosen (for trainers without soft labels).")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help=TRACKING_HELP)] = None,
    data_options: dict = None,
):
    """Write DPO pairs (prompt, chosen, rejected, their ids, p_chosen, weight, win probabilities) from an aggregate."""
    import mixpref as mp

    from ..aggregation.lottery_io import read_lottery
    from .runlog import log_command

    out_path = Path(out)
    if out_path.suffix.lower() not in _OUT_FORMATS:
        raise DataError(f"--out {out!r}: expected a file ending in {', '.join(_OUT_FORMATS)}")
    if (lottery is None) == (profile is None):
        raise DataError("give exactly one of --lottery FILE or --profile FILE --rule RULE")
    if profile is not None:
        if rule is None:
            raise DataError(f"--profile needs --rule (one of {', '.join(mp.RULES)})")
        lot = mp.aggregate(mp.Profile.load(profile), rule, study=False)
    else:
        lot = read_lottery(lottery, rule=rule)
    data = load_data(data_path, data_options)
    lot, table = _as_str_ids(lot, data)
    pairs = mp.to_dpo_pairs(lot, table, strategy=strategy, n_pairs=n_pairs, min_margin=min_margin,
                            random_state=seed, labels=labels, beta=beta)
    if resample:
        if "p_chosen" not in pairs.columns or pairs["p_chosen"].isna().any():
            raise DataError("--resample-soft-labels needs p_chosen, which a lottery file lacks; use --profile --rule "
                            "or --labels lottery")
        pairs = mp.resample_soft_labels(pairs, random_state=seed)
    suffix = out_path.suffix.lower()
    if suffix == ".jsonl":
        mp.to_jsonl(pairs, out_path)
    elif suffix == ".parquet":
        mp.to_parquet(pairs, out_path)
    else:
        write_table(pairs, out_path)
    typer.echo(
        f"wrote {len(pairs)} pairs for {pairs['prompt_id'].nunique()} prompts "
        f"(rule {lot.rule}, strategy {strategy}) to {out_path}"
    )
    log_command("export", data_path, params={"rule": lot.rule, "strategy": strategy, "n_pairs": n_pairs,
                                             "min_margin": min_margin, "labels": labels, "beta": beta,
                                             "resample": resample, "seed": seed, **(data_options or {})},
                metrics={"n_pairs": len(pairs), "n_prompts": int(pairs["prompt_id"].nunique())},
                tracking_uri=tracking_uri, artifacts=[out_path])
    return pairs


def register(app: typer.Typer) -> None:
    app.command("export")(user_errors(with_data_options(export_command)))
