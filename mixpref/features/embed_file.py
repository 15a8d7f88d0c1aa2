"""Embed a data file's responses (and score them under a reference LM) into a features folder."""

from __future__ import annotations


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

    Parameters
    ----------
    data : PreferenceData
    out : path-like
        Folder written by :meth:`Features.save` (read back with :meth:`Features.load`).
    model : str
        ``"minilm"`` (bundled) or a local Hugging Face model folder.
    logprob_model : path-like, optional
        A local causal-LM folder: also store ``log pi_ref(response | prompt)``.
    template, max_length, batch_size, device, cache_dir, progress
        As in :class:`~mixpref.TextEncoder`.
    reduction : {"sum", "mean"}
        ``log pi_ref`` summed over tokens or averaged per token.

    Returns
    -------
    Features
        The saved features.

    Examples
    --------
    >>> features = embed_data(data, "features/")  # doctest: +SKIP
    """
    from .sequence_scorer import SequenceScorer
    from .text_encoder import TextEncoder

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


def embed_file(path, out, read_options=None, **options):
    """Read a preference data file (:func:`mixpref.read`) and :func:`embed_data` it into ``out``.

    Parameters
    ----------
    path : path-like
        A data file that :func:`mixpref.read` reads.
    out : path-like
        The features folder to write.
    read_options : dict, optional
        Passed to :func:`mixpref.read` (column names, ``label_map``, ``responses``, ...).
    **options
        Passed to :func:`embed_data`.

    Returns
    -------
    (PreferenceData, Features)

    Examples
    --------
    >>> data, features = embed_file("prefs.csv", "features/", model="minilm")  # doctest: +SKIP
    """
    from ..data.readers import read

    data = read(path, **dict(read_options or {}))
    return data, embed_data(data, out, **options)
