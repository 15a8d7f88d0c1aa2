"""``mixpref demo``: the main job on bundled data."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import DataError
from .errors import user_errors
from .options import progress_bars


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @user_errors
    def demo(
        out: str = typer.Option("mixpref-runs/demo", "--out", help="Folder for the report, plots, model and targets."),
        cache_dir: Optional[str] = typer.Option(None, "--cache-dir", help="Embedding cache (default mixpref-runs/cache)."),
        tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="mlflow URI (default sqlite:///./mixpref-runs/mlflow.db)."),
        ks: str = typer.Option("1,2,3,4", "--ks", help="Numbers of annotator types to try, comma-separated."),
        rule: str = typer.Option("maximal_lottery", "--rule", help="Rule whose lottery becomes DPO targets."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        seed: int = typer.Option(0, "--seed"),
        small: bool = typer.Option(False, "--small", help="Four topics, K in {1, 2}: a quick check."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars (model loading included)."),
    ):
        """Embed UKPConvArg1, find annotator types, compare rules, export DPO targets, report."""
        from rich.console import Console

        from ..demo import run_demo

        console = Console(stderr=True)
        try:
            k_values = tuple(int(k) for k in ks.split(",") if k.strip())
        except ValueError:
            raise DataError(f"--ks {ks!r}: expected integers separated by commas, e.g. 1,2,3") from None
        with progress_bars(progress):
            result = run_demo(
                out_dir=out, cache_dir=cache_dir, tracking_uri=tracking_uri, ks=k_values, rule=rule,
                small=small, device=device, random_state=seed, console=console,
            )
        m = result.metrics
        typer.echo(
            "\nmixpref demo done in {:.0f} s\n"
            "  annotator types (K)   {}\n"
            "  held-out LL / comp.   single BT {:.4f}, mixture {:.4f}\n"
            "  DPO targets           {} ({} pairs)\n"
            "  report                {}\n"
            "  mlflow                {}  (open with: mixpref ui)".format(
                m["total_s"], result.n_types, m["heldout_loglik_single"], m["heldout_loglik_mixture"],
                result.targets, m["n_pairs"], result.report, result.tracking_uri,
            )
        )
