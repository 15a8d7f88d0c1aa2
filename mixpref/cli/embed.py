"""``mixpref embed``: response embeddings (and reference log-probabilities) of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import user_errors


def embed_data(
    data,
    out,
    model="minilm",
    logprob_model=None,
    template="{prompt}\n\n{response}",
    max_length=None,
    batch_size="auto",
    device="auto",
    cache_dir=None,
    reduction="sum",
    progress=True,
):
    """Embed ``data``'s responses (and score them under ``logprob_model``), save to ``out``.

    Returns the saved :class:`~mixpref.Features`.

    Examples
    --------
    >>> features = embed_data(data, "features/")  # doctest: +SKIP
    """
    from ..features.sequence_scorer import SequenceScorer
    from ..features.text_encoder import TextEncoder

    encoder = TextEncoder(
        model=model, template=template, max_length=max_length, batch_size=batch_size,
        device=device, cache_dir=cache_dir, progress=progress,
    )
    features = encoder.encode_data(data)
    if logprob_model is not None:
        scorer = SequenceScorer(logprob_model, batch_size=batch_size, device=device, cache_dir=cache_dir, progress=progress)
        features = scorer.score_data(data, features=features, reduction=reduction)
    features.save(out)
    return features


def _batch_size(value: str):
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"--batch-size: got {value!r}; expected a positive integer or 'auto'") from None


def register(app: typer.Typer) -> None:
    from .data import load_data, with_column_options

    @app.command("embed")
    @user_errors
    @with_column_options
    def embed(
        path: str = typer.Argument(..., help="A .csv/.jsonl/.json/.parquet file (gzip ok) or a bundled dataset name."),
        model: str = typer.Option("minilm", "--model", help="'minilm' (bundled) or a local Hugging Face model folder."),
        out: Path = typer.Option(..., "--out", help="Folder to write the features to (safetensors + ids)."),
        logprob_model: Optional[Path] = typer.Option(
            None, "--logprob-model", help="Local causal-LM folder: also store log pi_ref(response | prompt)."
        ),
        template: str = typer.Option(
            "{prompt}\n\n{response}", "--template", help="How prompt and response form one text; 'response' for the response alone."
        ),
        max_length: Optional[int] = typer.Option(None, "--max-length", help="Tokens per text (default: the model's limit)."),
        batch_size: str = typer.Option("auto", "--batch-size", help="Texts per batch, or 'auto'."),
        device: str = typer.Option("auto", "--device", help="'auto' (CUDA when available), 'cpu' or 'cuda'."),
        cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache folder: reruns encode only new texts."),
        reduction: str = typer.Option("sum", "--reduction", help="log pi_ref as the sequence 'sum' or per-token 'mean'."),
        columns: dict = None,
    ):
        """Embed every response with its prompt (and score it under a reference LM)."""
        data = load_data(path, columns)
        features = embed_data(
            data, out, model=model, logprob_model=logprob_model, template=template, max_length=max_length,
            batch_size=_batch_size(batch_size), device=device, cache_dir=cache_dir, reduction=reduction,
        )
        lp = " with logp_ref" if features.logp_ref is not None else ""
        typer.echo(f"wrote {len(features)} response embeddings (dim {features.dim}){lp} to {out}")
