"""``mixpref study list``, ``mixpref study run NAME [--small]`` and ``mixpref ui``."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import user_errors


def _fail(message: str):
    typer.echo(f"mixpref: error: {message}", err=True)
    raise typer.Exit(code=2)


def study_list():
    """List the studies (name, script, what it shows)."""
    from rich.console import Console
    from rich.table import Table

    from ..studies_registry import REPO_ROOT, STUDIES, spec, study_script

    table = Table(title="mixpref studies (run one with: mixpref study run NAME [--small])")
    table.add_column("name", style="bold")
    table.add_column("script")
    table.add_column("what it shows")
    for name in STUDIES:
        script = study_script(name)
        shown = script.relative_to(REPO_ROOT) if script.is_relative_to(REPO_ROOT) else script
        where = str(shown) if script.is_file() else f"{shown} (missing)"
        small = "" if spec(name).small else " (no --small run)"
        table.add_row(name, where, spec(name).description + small)
    Console(width=max(Console().width, 120)).print(table)


SMOKE_NOTE = ("> **Smoke run** (`mixpref study run {name} --small`): tiny sizes to check that the study runs; "
              "its numbers are not the study's results (those are in `studies/results/{name}/`).")


def mark_smoke_report(out: Path, name: str) -> bool:
    """Put the smoke-run note under the title of ``out/report.md``; False when there is no report."""
    from .._io import atomic_path

    report = Path(out) / "report.md"
    if not report.is_file():
        return False
    lines = report.read_text().splitlines()
    note = SMOKE_NOTE.format(name=name)
    if note in lines:
        return True
    at = 1 if lines and lines[0].startswith("# ") else 0
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(lines[:at] + ["", note, ""] + lines[at:]) + "\n")
    return True


def study_run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Study name (see `mixpref study list`)."),
    small: bool = typer.Option(
        False, "--small",
        help="A quick, small run (what the tests use); it writes to ./mixpref-runs/studies-small/NAME unless --out is given, never to studies/results/.",
    ),
):
    """Run a study script; arguments after NAME are passed on to its main(argv)."""
    from ..studies_registry import REPO_ROOT, SMALL_RESULTS, load_study, spec

    try:
        module = load_study(name)
    except (KeyError, FileNotFoundError) as err:
        _fail(str(err).strip("'\""))
    extra = list(ctx.args)
    argv = list(extra)
    out = None
    if small:
        if not spec(name).small:
            _fail(f"study {name!r} has no --small run; run it in full (see its --help for quicker settings)")
        given = [a for a in extra if a == "--out" or a.startswith("--out=")]
        if given:
            out = extra[extra.index("--out") + 1] if "--out" in extra else given[0].split("=", 1)[1]
        else:
            out = str(Path.cwd() / SMALL_RESULTS / name)
            argv += ["--out", out]
        full = (REPO_ROOT / "studies" / "results" / name).resolve()
        if Path(out).resolve() == full:
            _fail(f"--small would overwrite the committed full results in {full}; give another --out")
        argv = ["--small"] + argv
    code = module.main(argv)
    if small and mark_smoke_report(Path(out), name):
        typer.echo(f"smoke run of {name}: {Path(out) / 'report.md'}")
    if isinstance(code, int) and code:
        raise typer.Exit(code=code)


@user_errors
def ui(
    tracking_uri: Optional[str] = typer.Option(
        None, "--tracking-uri", help="mlflow tracking URI; default: this project's mixpref-runs/mlflow.db."
    ),
    port: int = typer.Option(5000, "--port", help="Port of the mlflow UI."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
):
    """Open the mlflow UI on the project's runs (mlflow ui --backend-store-uri ...)."""
    from ..tracking import resolve_tracking_uri, sqlite_path

    uri = resolve_tracking_uri(tracking_uri)
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        _fail(f"no mlflow database at {db}; run `mixpref demo` or a study first, or pass --tracking-uri")
    # one worker: a local UI for one user, and uvicorn workers are slow to start on a small CPU
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port), "--workers", "1"]
    typer.echo(f"mlflow UI for {uri} at http://{host}:{port} (Ctrl-C to stop)")
    code = _run_forwarding_signals(command)
    if code:
        raise typer.Exit(code=code)


def _run_forwarding_signals(command) -> int:
    """Run the server in the foreground; Ctrl-C or SIGTERM to mixpref also stops the server."""
    process = subprocess.Popen(command)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def register(app: typer.Typer) -> None:
    """Add the ``study`` sub-commands and ``ui`` to the ``mixpref`` app."""
    study_app = typer.Typer(help="Reproducible studies: list them, run one.", no_args_is_help=True)
    study_app.command("list")(study_list)
    study_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(study_run)
    app.add_typer(study_app, name="study")
    app.command("ui")(ui)
