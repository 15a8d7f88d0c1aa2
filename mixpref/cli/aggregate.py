"""``mixpref aggregate``: apply a social-choice rule to a saved profile or a fitted model, or compare rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .errors import user_errors


def parse_options(items):
    """``["tol=1e-4", "method=selfplay"]`` -> ``{"tol": 0.0001, "method": "selfplay"}`` (JSON values, else strings)."""
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--option: got {item!r}; expected KEY=VALUE, e.g. --option tol=1e-4")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def write_frame(frame, out: Path):
    """Write a table as .csv, .jsonl or .parquet (atomically), chosen by the suffix."""
    from .._io import atomic_path

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".parquet"):
        raise ValueError(f"--out: got {out.name!r}; expected a .csv, .jsonl or .parquet file")
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".jsonl":
            frame.to_json(tmp, orient="records", lines=True)
        else:
            frame.to_parquet(tmp, index=False)


def profile_from_model(model_dir, data_path, options, features_dir, embed, device):
    """A fitted model's profile over the candidates of the data (each prompt's responses)."""
    from ..models.persistence import load_model
    from .data import load_data
    from .models import load_features

    if data_path is None:
        raise ValueError("--model needs --data: the preference data whose prompts and responses to aggregate over")
    data = load_data(data_path, options)
    features = load_features(data, features_dir, embed, device or "auto")
    return load_model(model_dir).profile(data, features)


def register(app: typer.Typer) -> None:
    from .data import with_column_options

    @app.command("aggregate")
    @user_errors
    @with_column_options(names=("prompt", "response_a", "response_b", "label", "annotator"))
    def aggregate_command(
        profile_path: Optional[Path] = typer.Argument(
            None, help="A profile .npz (arrays 'matrices' (P,K,M,M) and 'weights'; optional 'rewards', 'samples', 'mask'), as Profile.save writes."
        ),
        rule: str = typer.Option("maximal_lottery", "--rule", "-r", help="Rule name (see --list-rules)."),
        method: Optional[str] = typer.Option(None, "--method", help="maximal_lottery: 'lp' (exact) or 'selfplay' (batched, GPU-ready)."),
        device: Optional[str] = typer.Option(None, "--device", help="maximal_lottery selfplay: 'auto', 'cpu' or 'cuda'."),
        option: Optional[List[str]] = typer.Option(None, "--option", "-o", help="Rule option KEY=VALUE (repeatable)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write the lottery (prompt_id, response_id, prob, score) to .csv/.jsonl/.parquet."),
        compare: bool = typer.Option(False, "--compare", help="Compare rules instead: print whom each serves."),
        rules: Optional[str] = typer.Option(None, "--rules", help="With --compare: comma-separated rules (default: all that apply)."),
        list_rules: bool = typer.Option(False, "--list-rules", help="Print the rules and their options, then exit."),
        model: Optional[Path] = typer.Option(None, "--model", help="Instead of a profile: a fitted model folder (mixpref fit)..."),
        data: Optional[str] = typer.Option(None, "--data", help="...with the data whose candidates to aggregate (file or bundled name)..."),
        features: Optional[Path] = typer.Option(None, "--features", help="...and its features folder (mixpref embed)..."),
        embed: Optional[str] = typer.Option(None, "--embed", help="...or embed the responses now ('minilm')."),
        save_profile: Optional[Path] = typer.Option(None, "--save-profile", help="Also save the profile built from --model as .npz."),
        columns: dict = None,
    ):
        """Turn a profile into a lottery over each prompt's candidates with a social-choice rule."""
        from ..aggregation.diagnostics import compare_rules
        from ..aggregation.profile import Profile
        from ..aggregation.rules import RULES, aggregate, rule_options

        if list_rules:
            for name in RULES:
                typer.echo(f"{name}: {rule_options(name)}")
            raise typer.Exit()
        if model is not None:
            if profile_path is not None:
                raise ValueError("give either a PROFILE file or --model with --data, not both")
            profile = profile_from_model(model, data, columns, features, embed, device)
            if save_profile is not None:
                profile.save(save_profile)
        elif profile_path is None:
            raise ValueError("PROFILE: missing; give a profile .npz file (see Profile.save) or --model with --data")
        else:
            profile = Profile.load(profile_path)
        if compare:
            names = None if rules is None else [r.strip() for r in rules.split(",") if r.strip()]
            extra = {"maximal_lottery": {k: v for k, v in (("method", method), ("device", device)) if v is not None}}
            if (names is not None and "maximal_lottery" not in names) or not extra["maximal_lottery"]:
                extra = {}
            table = compare_rules(profile, rules=names, options=extra)
            typer.echo(table.T.to_string(float_format=lambda x: f"{x:.4f}"))
            if out is not None:
                write_frame(table.reset_index(), out)
                typer.echo(f"wrote {out}")
            return
        options = parse_options(option)
        if method is not None:
            options["method"] = method
        if device is not None:
            options["device"] = device
        lottery = aggregate(profile, rule, **options)
        import numpy as np

        top = np.where(lottery.mask, lottery.probs, 0.0).max(axis=1)
        typer.echo(
            f"{rule}: {len(lottery)} prompts, {profile.n_types} types; mean top probability {top.mean():.3f}; "
            f"mean exploitability {lottery.exploitability().mean():.2e}"
        )
        if out is not None:
            write_frame(lottery.to_frame(), out)
            typer.echo(f"wrote {out}")
