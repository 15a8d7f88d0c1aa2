"""``mixpref export``: turn an aggregate into DPO training pairs on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import user_errors

_OUT_FORMATS = (".jsonl", ".parquet", ".csv")


def lottery_from_frame(frame, rule="lottery"):
    """A Lottery from ``lottery.to_frame()`` output read back from a file (no pooled matrix).

    Examples
    --------
    >>> import pandas as pd
    >>> lot = lottery_from_frame(pd.DataFrame({"prompt_id": ["p", "p"], "response_id": ["x", "y"],
    ...                                        "prob": [0.25, 0.75]}))
    >>> lot.probs.tolist(), lot.candidates.tolist()
    ([[0.25, 0.75]], [['x', 'y']])
    """
    import numpy as np
    import pandas as pd

    from ..aggregation.lottery import Lottery
    from ..errors import DataError

    missing = [c for c in ("prompt_id", "response_id", "prob") if c not in frame.columns]
    if missing:
        raise DataError(
            f"lottery file: missing column(s) {missing}; expected lottery.to_frame()'s prompt_id, response_id, prob[, score]"
        )
    prob = pd.to_numeric(frame["prob"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~((prob >= 0) & (prob <= 1)))
    if bad.size:
        raise DataError(f"lottery file: column 'prob', row {int(bad[0])}: got {frame['prob'].iloc[bad[0]]!r}, expected a probability")
    score = (pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=np.float64)
             if "score" in frame.columns else np.full(len(frame), np.nan))
    order = pd.unique(frame["prompt_id"])
    rows = {pid: [] for pid in order}
    for k, pid in enumerate(frame["prompt_id"]):
        rows[pid].append(k)
    width = max(len(r) for r in rows.values())
    probs = np.zeros((len(order), width))
    scores = np.full((len(order), width), np.nan)
    cands = np.full((len(order), width), None, dtype=object)
    mask = np.zeros((len(order), width), dtype=bool)
    rids = frame["response_id"].to_numpy(dtype=object)
    for p, pid in enumerate(order):
        ks = rows[pid]
        probs[p, : len(ks)], scores[p, : len(ks)] = prob[ks], score[ks]
        cands[p, : len(ks)] = rids[ks]
        mask[p, : len(ks)] = True
        total = probs[p].sum()
        if not abs(total - 1.0) < 1e-6:
            raise DataError(f"lottery file: prompt {pid!r}: probabilities sum to {total:.6g}, expected 1")
    if "rule" in frame.columns and frame["rule"].nunique() == 1:
        rule = str(frame["rule"].iloc[0])
    return Lottery(probs, scores, rule, prompts=pd.Index(order, name="prompt_id"), candidates=cands, mask=mask)


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


def register(app: typer.Typer) -> None:
    from .data import load_data, with_column_options

    @app.command("export")
    @user_errors
    @with_column_options
    def export(
        data_path: str = typer.Argument(..., metavar="DATA", help="The preference data (file or bundled dataset name): where texts come from."),
        out: str = typer.Option(..., "--out", "-o", help="Output file: .jsonl, .parquet or .csv."),
        lottery: Optional[str] = typer.Option(None, "--lottery", help="A lottery file (lottery.to_frame() as .csv/.parquet/.jsonl)."),
        profile: Optional[str] = typer.Option(None, "--profile", help="A profile .npz (Profile.save); needs --rule."),
        rule: Optional[str] = typer.Option(None, "--rule", help="Rule applied to --profile (e.g. maximal_lottery)."),
        strategy: str = typer.Option("winner_vs_rest", "--strategy", help="winner_vs_rest, all_pairs or sampled."),
        n_pairs: Optional[int] = typer.Option(None, "--n-pairs", help="Pairs per prompt."),
        min_margin: float = typer.Option(0.0, "--min-margin", help="Drop pairs whose lottery margin is below this."),
        labels: str = typer.Option("pairwise", "--labels", help="p_chosen from the aggregate's 'pairwise' preference or the 'lottery' itself."),
        resample: bool = typer.Option(False, "--resample-soft-labels", help="Flip each pair with probability 1 - p_chosen (for trainers without soft labels)."),
        seed: int = typer.Option(0, "--seed"),
        columns: dict = None,
    ):
        """Write DPO pairs (prompt, chosen, rejected, p_chosen, weight, win probabilities) from an aggregate."""
        import mixpref as mp

        from .._io import atomic_path
        from ..data.readers import read_table

        out_path = Path(out)
        if out_path.suffix.lower() not in _OUT_FORMATS:
            raise ValueError(f"--out {out!r}: expected a file ending in {', '.join(_OUT_FORMATS)}")
        if (lottery is None) == (profile is None):
            raise ValueError("give exactly one of --lottery FILE or --profile FILE --rule RULE")
        if profile is not None:
            if rule is None:
                raise ValueError(f"--profile needs --rule (one of {', '.join(mp.RULES)})")
            lot = mp.aggregate(mp.Profile.load(profile), rule)
        else:
            lot = lottery_from_frame(read_table(lottery), rule=rule or "lottery")
        data = load_data(data_path, columns)
        lot, table = _as_str_ids(lot, data)
        pairs = mp.to_dpo_pairs(lot, table, strategy=strategy, n_pairs=n_pairs, min_margin=min_margin,
                                random_state=seed, labels=labels)
        if resample:
            if pairs["p_chosen"].isna().any():
                raise ValueError("--resample-soft-labels needs p_chosen, which a lottery file lacks; use --profile --rule")
            pairs = mp.resample_soft_labels(pairs, random_state=seed)
        suffix = out_path.suffix.lower()
        if suffix == ".jsonl":
            mp.to_jsonl(pairs, out_path)
        elif suffix == ".parquet":
            mp.to_parquet(pairs, out_path)
        else:
            with atomic_path(out_path) as tmp:
                pairs.to_csv(tmp, index=False)
        typer.echo(
            f"wrote {len(pairs)} pairs for {pairs['prompt_id'].nunique()} prompts "
            f"(rule {lot.rule}, strategy {strategy}) to {out_path}"
        )
