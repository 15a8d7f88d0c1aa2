"""``mixpref audit``: each rule's axioms, distortion, exploitability and worst-off type on a profile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import numpy as np
import typer

from ..errors import DataError
from .errors import user_errors
from .options import progress_bars, with_data_options
from .runlog import TRACKING_HELP


def audit_command(
    profile_path: Annotated[Optional[Path], typer.Argument(
        help="A profile .npz (Profile.save), or give --model.")] = None,
    rules: Annotated[Optional[str], typer.Option("--rules", help="Comma-separated rules (default: every rule that applies).")] = None,
    method: Annotated[Optional[str], typer.Option("--method", help="maximal_lottery: 'lp' (exact) or 'selfplay'.")] = None,
    option: Annotated[Optional[List[str]], typer.Option(
        "--option", "-o", help="Rule option RULE.KEY=VALUE (repeatable), e.g. dictator.type=1.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the audit table to .csv/.jsonl/.parquet.")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="Instead of a profile: a fitted model folder (mixpref fit).")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="With --model: other data (file or bundled name).")] = None,
    features: Annotated[Optional[Path], typer.Option("--features", help="With --model: a features folder (mixpref embed).")] = None,
    embed: Annotated[Optional[str], typer.Option("--embed", help="With --model: embed the responses now ('minilm').")] = None,
    item_level: Annotated[bool, typer.Option("--item-level", help="With --model: item one-hot features.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
    tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help=TRACKING_HELP)] = None,
    data_options: dict = None,
):
    """Audit every rule on a profile: Pareto, Condorcet (pooled and type-majority), pairwise-majority
    consistency, monotonicity, worst-off type, distortion, exploitability (see mixpref.audit)."""
    from ..aggregation.audit import audit
    from ..aggregation.profile import Profile
    from .aggregate import parse_options, profile_from_model
    from .runlog import log_command

    source = profile_path
    if model is not None:
        if profile_path is not None:
            raise DataError("give either a PROFILE file or --model, not both")
        with progress_bars(progress):
            profile, _, source = profile_from_model(model, data, data_options, features, embed, item_level, "auto", progress)
    elif profile_path is None:
        raise DataError("PROFILE: missing; give a profile .npz file (see Profile.save) or --model DIR (from mixpref fit)")
    else:
        profile = Profile.load(profile_path)
    per_rule = {}
    for key, value in parse_options(option).items():
        rule, dot, name = key.partition(".")
        if not dot or not name:
            raise DataError(f"--option: got {key!r}; expected RULE.KEY=VALUE, e.g. --option dictator.type=1")
        per_rule.setdefault(rule, {})[name] = value
    if method is not None:
        per_rule.setdefault("maximal_lottery", {})["method"] = method
    names = None if rules is None else [r.strip() for r in rules.split(",") if r.strip()]
    table = audit(profile, rules=names, options=per_rule)
    typer.echo(table.T.to_string(float_format=lambda x: f"{x:.4g}"))
    skipped = table.attrs.get("skipped") or {}
    for name, reason in skipped.items():
        typer.echo(f"skipped {name}: {reason}")
    if out is not None:
        from .._io import write_table

        write_table(table.reset_index(), out)
        typer.echo(f"wrote {out}")
    numeric = table.select_dtypes("number")
    metrics = {f"{r}.{c}": float(v) for r, row in numeric.iterrows() for c, v in row.items() if np.isfinite(v)}
    log_command("audit", source, params={"profile": profile_path, "model": model, "rules": rules or "all",
                                         "method": method}, metrics=metrics, tracking_uri=tracking_uri,
                artifacts=[out] if out is not None else ())
    return table


def register(app: typer.Typer) -> None:
    app.command("audit")(user_errors(with_data_options(audit_command)))
