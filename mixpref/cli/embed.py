"""``mixpref embed``: response embeddings (and reference log-probabilities) of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import DataError
from .data import DataPath
from .errors import user_errors
from .options import load_data, progress_bars, with_data_options


def parse_batch_size(value):
    """``'auto'`` or a positive integer."""
    if value in ("auto", None) or isinstance(value, int):
        return value or "auto"
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise DataError(f"--batch-size: got {value!r}; expected a positive integer or 'auto'")
    return size


def embed_command(
    path: DataPath,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the features to (safetensors + ids).")],
    model: Annotated[str, typer.Option("--model", help="'minilm' (bundled) or a local Hugging Face model folder.")] = "minilm",
    logprob_model: Annotated[Optional[Path], typer.Option(
        "--logprob-model", help="Local causal-LM folder: also store log pi_ref(response | prompt).")] = None,
    template: Annotated[str, typer.Option(
        "--template", help="How prompt and response form one text; 'response' for the response alone.")] = "{prompt}\n\n{response}",
    max_length: Annotated[Optional[int], typer.Option("--max-length", help="Tokens per text (default: the model's limit).")] = None,
    batch_size: Annotated[str, typer.Option("--batch-size", help="Texts per batch, or 'auto'.")] = "auto",
    device: Annotated[str, typer.Option("--device", help="'auto' (CUDA when available), 'cpu' or 'cuda'.")] = "auto",
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Cache folder: reruns encode only new texts.")] = None,
    reduction: Annotated[str, typer.Option("--reduction", help="log pi_ref as the sequence 'sum' or per-token 'mean'.")] = "sum",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars (also model loading).")] = True,
    data_options: dict = None,
):
    """Embed every response with its prompt (and score it under a reference LM)."""
    from ..features.embed_file import embed_data

    data = load_data(path, data_options)
    with progress_bars(progress):
        features = embed_data(
            data, out, model=model, logprob_model=logprob_model, template=template, max_length=max_length,
            batch_size=parse_batch_size(batch_size), device=device, cache_dir=cache_dir, reduction=reduction,
            progress=progress,
        )
    lp = " with logp_ref" if features.logp_ref is not None else ""
    typer.echo(f"wrote {len(features)} response embeddings (dim {features.dim}){lp} to {out}")
    return features


def register(app: typer.Typer) -> None:
    app.command("embed")(user_errors(with_data_options(embed_command)))
