"""``mixpref aggregate --posterior``: the rule applied to every posterior draw of a profile, summarised.

Kept apart from ``cli/aggregate.py`` (which imports it when ``--posterior`` is given) so that
neither imports the other.
"""

from __future__ import annotations

import numpy as np
import typer

# how many prompts and candidates the printed summary shows
_SHOW_PROMPTS, _SHOW_CANDIDATES = 3, 10


def print_posterior(post, texts=None, level=0.9):
    """One line for the mean lottery, one per type for its win-rate interval, then the first prompts."""
    top = np.where(post.mask, post.mean.probs, 0.0).max(axis=1)
    typer.echo(f"{post.rule} over {post.n_draws} posterior draws: {len(post.prompts)} prompts; mean top probability "
               f"{top.mean():.3f}; mean winner probability of the most likely winner "
               f"{post.winner_probability.max(axis=1).mean():.3f}; exploitability of the mean lottery under the "
               f"draws {post.exploitability.mean():.2e} (mean)")
    for row in post.win_rate_interval(level=level).itertuples(index=False):
        typer.echo(f"  type {row.type}: win rate {row.mean:.3f}, {level:.0%} interval [{row.lower:.3f}, {row.upper:.3f}]")
    frame = post.to_frame()
    if texts is not None:
        from ..aggregation.lottery_io import response_texts

        names = response_texts(texts)
        frame["text"] = [names.get(str(r), "") for r in frame["response_id"]]
    for n, (prompt, group) in enumerate(frame.groupby("prompt_id", sort=False)):
        if n == _SHOW_PROMPTS:
            typer.echo(f"... and {frame['prompt_id'].nunique() - n:,} more prompts (see --out)")
            break
        typer.echo(f"prompt {prompt}:  prob  (support probability, winner probability)")
        for row in group.sort_values("prob", ascending=False).head(_SHOW_CANDIDATES).itertuples(index=False):
            text = getattr(row, "text", "") or ""
            label = row.response_id if text in ("", row.response_id) else f"{text}  [{row.response_id}]"
            typer.echo(f"  {row.prob:7.3f}  ({row.support_probability:.2f}, {row.winner_probability:.2f})  {label}")
    return frame


def posterior_summary(post, texts=None, out=None):
    """Print a LotteryPosterior and write its table (``--out``); returns the metrics to log."""
    frame = print_posterior(post, texts)
    if out is not None:
        from .._io import write_table

        write_table(frame, out)
        typer.echo(f"wrote {out}")
    return {"mean_top_probability": float(np.where(post.mask, post.mean.probs, 0.0).max(axis=1).mean()),
            "mean_exploitability_under_draws": float(post.exploitability.mean()), "n_draws": post.n_draws}
