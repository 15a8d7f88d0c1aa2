"""``mixpref aggregate``: apply a social-choice rule to a saved profile or a fitted model, or compare rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import numpy as np
import typer

from ..errors import DataError
from .errors import user_errors
from .options import load_data, progress_bars, with_data_options
from .runlog import TRACKING_HELP

# how many prompts and candidates the printed summary shows
_SHOW_PROMPTS, _SHOW_CANDIDATES = 3, 10


def parse_options(items):
    """``["tol=1e-4", "method=selfplay"]`` -> ``{"tol": 0.0001, "method": "selfplay"}`` (JSON values, else strings).

    Examples
    --------
    >>> parse_options(["tol=1e-4", "method=selfplay"])
    {'tol': 0.0001, 'method': 'selfplay'}
    """
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DataError(f"--option: got {item!r}; expected KEY=VALUE, e.g. --option tol=1e-4")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def profile_from_model(model_dir, data_path=None, data_options=None, features_dir=None, embed=None, item_level=None,
                       device="auto", progress=True):
    """A fitted model's profile over the candidates of the data (each prompt's responses), and the data.

    What is not given is read from the model folder's ``source.json`` (the data, its
    options and features the model was fitted with, as ``mixpref fit`` records them).
    """
    from ..models.persistence import load_model
    from .fitted import load_features, read_source

    source = read_source(model_dir)
    if data_path is None:
        data_path = source.get("data")
        data_options = data_options or source.get("data_options")
    if data_path is None:
        raise DataError("--model needs --data: the preference data whose prompts and responses to aggregate over")
    if features_dir is None and embed is None and not item_level:
        item_level = bool(source.get("item_level"))
        if not item_level:
            features_dir, embed = source.get("features"), source.get("embed")
    data = load_data(data_path, data_options, item_level=bool(item_level))
    names = source.get("item_names") if item_level else None
    features, _ = load_features(data, features_dir, embed, device, bool(item_level), item_names=names, progress=progress)
    return load_model(model_dir).profile(data, features), data, data_path


def _named_top(table, data, profile):
    """The compare table's ``top`` column shows each rule's top response by its text, not its id."""
    from ..aggregation.lottery import truncate_text
    from ..aggregation.lottery_io import response_texts

    if "top" not in table.columns:
        return table
    texts = response_texts(data) if data is not None else {}
    if not texts and getattr(profile, "texts", None) is not None:
        texts = {str(c): t for c, t in zip(np.ravel(profile.candidates), np.ravel(profile.texts)) if c is not None}
    if texts:
        table = table.assign(top=[truncate_text(texts.get(str(t), t), 30) for t in table["top"]])
    return table


def print_lottery(lottery, frame):
    """The first prompts' candidates, most probable first, with their texts."""
    for n, (prompt, group) in enumerate(frame.groupby("prompt_id", sort=False)):
        if n == _SHOW_PROMPTS:
            typer.echo(f"... and {frame['prompt_id'].nunique() - n:,} more prompts (see --out)")
            break
        typer.echo(f"prompt {prompt}:")
        group = group.sort_values("prob", ascending=False)
        for row in group.head(_SHOW_CANDIDATES).itertuples(index=False):
            text = getattr(row, "text", None)
            label = row.response_id if text in (None, "") or text == row.response_id else f"{text}  [{row.response_id}]"
            typer.echo(f"  {row.prob:7.3f}  {label}")
        if len(group) > _SHOW_CANDIDATES:
            typer.echo(f"  ... and {len(group) - _SHOW_CANDIDATES} more candidates")


def aggregate_command(
    profile_path: Annotated[Optional[Path], typer.Argument(
        help="A profile .npz (arrays 'matrices' (P,K,M,M) and 'weights'; optional 'rewards', 'samples', 'mask'), as Profile.save writes.")] = None,
    rule: Annotated[str, typer.Option("--rule", "-r", help="Rule name (see --list-rules).")] = "maximal_lottery",
    method: Annotated[Optional[str], typer.Option("--method", help="maximal_lottery: 'lp' (exact) or 'selfplay' (batched, GPU-ready).")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="'auto', 'cpu' or 'cuda'.")] = None,
    option: Annotated[Optional[List[str]], typer.Option("--option", "-o", help="Rule option KEY=VALUE (repeatable).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write the lottery (prompt_id, response_id, text, prob, score, rule) to .csv/.jsonl/.parquet.")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Compare rules instead: print whom each serves.")] = False,
    posterior: Annotated[bool, typer.Option(
        "--posterior", help="Apply the rule to every posterior draw (profiles from inference svi, laplace or ensemble).")] = False,
    rules: Annotated[Optional[str], typer.Option("--rules", help="With --compare: comma-separated rules (default: all that apply).")] = None,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="Print the rules and their options, then exit.")] = False,
    model: Annotated[Optional[Path], typer.Option(
        "--model", help="Instead of a profile: a fitted model folder (mixpref fit); its data and features are reused...")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="...unless --data gives other data (file or bundled name)...")] = None,
    features: Annotated[Optional[Path], typer.Option("--features", help="...with its features folder (mixpref embed)...")] = None,
    embed: Annotated[Optional[str], typer.Option("--embed", help="...or embed the responses now ('minilm')...")] = None,
    item_level: Annotated[bool, typer.Option("--item-level", help="...or item one-hot features.")] = False,
    save_profile: Annotated[Optional[Path], typer.Option("--save-profile", help="Also save the profile built from --model as .npz.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars (also model loading).")] = True,
    tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help=TRACKING_HELP)] = None,
    data_options: dict = None,
):
    """Turn a profile into a lottery over each prompt's candidates with a social-choice rule."""
    from ..aggregation.diagnostics import compare_rules
    from ..aggregation.lottery_io import lottery_frame
    from ..aggregation.profile import Profile
    from ..aggregation.registry import rule_table
    from ..aggregation.rules import aggregate
    from .runlog import log_command

    if list_rules:
        for name, row in rule_table().iterrows():
            typer.echo(f"{name}: {row['summary']} options: {row['options']}")
        return None
    source, texts = profile_path, None
    if model is not None:
        if profile_path is not None:
            raise DataError("give either a PROFILE file or --model, not both")
        with progress_bars(progress):
            profile, texts, source = profile_from_model(model, data, data_options, features, embed, item_level,
                                                        device or "auto", progress)
        if save_profile is not None:
            profile.save(save_profile)
    elif profile_path is None:
        raise DataError("PROFILE: missing; give a profile .npz file (see Profile.save) or --model DIR (from mixpref fit)")
    else:
        profile = Profile.load(profile_path)
    params = {"rule": rule, "profile": profile_path, "model": model, "method": method, "device": device}
    if compare:
        names = None if rules is None else [r.strip() for r in rules.split(",") if r.strip()]
        extra = {"maximal_lottery": {k: v for k, v in (("method", method), ("device", device)) if v is not None}}
        if (names is not None and "maximal_lottery" not in names) or not extra["maximal_lottery"]:
            extra = {}
        table = compare_rules(profile, rules=names, options=extra)
        table = _named_top(table, texts, profile)
        typer.echo(table.T.to_string(float_format=lambda x: f"{x:.4f}"))
        if out is not None:
            from .._io import write_table

            write_table(table.reset_index(), out)
            typer.echo(f"wrote {out}")
        numeric = table.select_dtypes("number")
        metrics = {f"{r}.{c}": float(v) for r, row in numeric.iterrows() for c, v in row.items() if np.isfinite(v)}
        log_command("aggregate", source, params={**params, "compare": rules or "all"}, metrics=metrics,
                    tracking_uri=tracking_uri, artifacts=[out] if out is not None else ())
        return table
    options = parse_options(option)
    if method is not None:
        options["method"] = method
    if device is not None:
        options["device"] = device
    if posterior:
        from .posterior import posterior_summary

        post = aggregate(profile, rule, study=False, posterior=True, **options)
        log_command("aggregate", source, params={**params, **options, "posterior": True}, tracking_uri=tracking_uri,
                    metrics=posterior_summary(post, texts, out), artifacts=[out] if out is not None else ())
        return post
    lottery = aggregate(profile, rule, study=False, **options)
    frame = lottery_frame(lottery, texts=texts)
    top = np.where(lottery.mask, lottery.probs, 0.0).max(axis=1)
    exploit = float(lottery.exploitability().mean())
    typer.echo(f"{rule}: {len(lottery)} prompts, {profile.n_types} types; mean top probability {top.mean():.3f}; "
               f"mean exploitability {exploit:.2e}")
    print_lottery(lottery, frame)
    if out is not None:
        from .._io import write_table

        write_table(frame, out)
        typer.echo(f"wrote {out}")
    log_command("aggregate", source, params={**params, **options}, tracking_uri=tracking_uri,
                metrics={"mean_top_probability": float(top.mean()), "mean_exploitability": exploit},
                artifacts=[out] if out is not None else ())
    return lottery


def register(app: typer.Typer) -> None:
    app.command("aggregate")(user_errors(with_data_options(aggregate_command)))
