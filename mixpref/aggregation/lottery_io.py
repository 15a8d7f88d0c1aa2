"""Lottery files: write a lottery as a table with response texts beside ids, read one back.

The table is :meth:`Lottery.to_frame`'s ``prompt_id, response_id, prob, score`` plus a
``text`` column (the response text on one line, cut to :data:`TEXT_WIDTH` characters, so
a person reading the file sees what won; the full texts are in the data and in DPO
exports) and ``rule``. Reading accepts any table with ``prompt_id, response_id, prob``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .lottery import TEXT_WIDTH, Lottery, truncate_text

REQUIRED = ("prompt_id", "response_id", "prob")


def response_texts(data) -> dict:
    """``response_id -> text`` of a :class:`PreferenceData` (ids as strings, as a file holds them)."""
    table = data.responses
    return dict(zip(table["response_id"].map(str), table["text"]))


def lottery_frame(lottery, texts=None, width=TEXT_WIDTH) -> pd.DataFrame:
    """The lottery as a table: ``prompt_id, response_id, text, prob, score, rule``.

    Parameters
    ----------
    lottery : Lottery
    texts : dict, PreferenceData or None
        Where the response texts come from (a ``response_id -> text`` mapping or the data);
        a ``text`` column the lottery already has is kept.
    width : int
        Texts are cut to this many characters.

    Examples
    --------
    >>> import numpy as np, mixpref as mp
    >>> prof = mp.Profile(np.array([[[[0.5, 0.8], [0.2, 0.5]]]]), weights=[1.0], candidates=[["x", "y"]])
    >>> lottery_frame(mp.aggregate(prof, "borda"), texts={"x": "yes", "y": "no"})[["response_id", "text", "prob"]].values.tolist()
    [['x', 'yes', 1.0], ['y', 'no', 0.0]]
    """
    frame = lottery.to_frame()
    if texts is not None and not isinstance(texts, dict):
        texts = response_texts(texts)
    if texts is not None:
        frame["text"] = [texts.get(str(r), texts.get(r)) for r in frame["response_id"]]
    if "text" in frame.columns:
        frame["text"] = frame["text"].map(lambda t: truncate_text(t, width))
        first = ["prompt_id", "response_id", "text"]
        frame = frame[first + [c for c in frame.columns if c not in first]]
    frame["rule"] = lottery.rule
    return frame


def write_lottery(lottery, path, texts=None, width=TEXT_WIDTH):
    """Write :func:`lottery_frame` to ``.csv``, ``.jsonl`` or ``.parquet`` (atomically); returns the path.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, mixpref as mp
    >>> prof = mp.Profile(np.array([[[[0.5, 0.8], [0.2, 0.5]]]]), weights=[1.0], candidates=[["x", "y"]])
    >>> path = write_lottery(mp.aggregate(prof, "borda"), pathlib.Path(tempfile.mkdtemp()) / "l.csv")
    >>> read_lottery(path).probs.tolist()
    [[1.0, 0.0]]
    """
    from .._io import write_table

    return write_table(lottery_frame(lottery, texts=texts, width=width), path)


def read_lottery(path_or_frame, rule=None) -> Lottery:
    """A :class:`Lottery` from a lottery table (a file or a DataFrame); it carries no pooled matrix.

    Ids are kept as written in the file; ``rule`` defaults to the file's ``rule`` column
    (when it names one rule) or ``"lottery"``.

    Raises
    ------
    DataError
        A required column is missing, a probability is not in [0, 1], or a prompt's
        probabilities do not sum to 1 (the message names the prompt and the row).

    Examples
    --------
    >>> import pandas as pd
    >>> lot = read_lottery(pd.DataFrame({"prompt_id": ["p", "p"], "response_id": ["x", "y"], "prob": [0.25, 0.75]}))
    >>> lot.probs.tolist(), lot.candidates.tolist()
    ([[0.25, 0.75]], [['x', 'y']])
    """
    if isinstance(path_or_frame, pd.DataFrame):
        frame, where = path_or_frame.reset_index(drop=True), "lottery table"
    else:
        from ..data.readers import read_table

        frame, where = read_table(path_or_frame), f"lottery file {path_or_frame}"
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; expected prompt_id, response_id, prob[, text, score, rule]")
    if len(frame) == 0:
        raise DataError(f"{where}: no rows; expected one row per (prompt, candidate)")
    prob = pd.to_numeric(frame["prob"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~((prob >= 0) & (prob <= 1)))
    if bad.size:
        more = f" (and {bad.size - 1:,} more)" if bad.size > 1 else ""
        raise DataError(f"{where}: column 'prob', row {int(bad[0]) + 1}: got {frame['prob'].iloc[bad[0]]!r}, "
                        f"expected a probability in [0, 1]{more}")
    score = (pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=np.float64)
             if "score" in frame.columns else np.full(len(frame), np.nan))
    codes, order = pd.factorize(frame["prompt_id"], sort=False)
    width = int(np.bincount(codes).max())
    probs = np.zeros((len(order), width))
    scores = np.full((len(order), width), np.nan)
    cands = np.full((len(order), width), None, dtype=object)
    mask = np.zeros((len(order), width), dtype=bool)
    rids = frame["response_id"].to_numpy(dtype=object)
    has_text = "text" in frame.columns
    texts = np.full((len(order), width), None, dtype=object) if has_text else None
    text_col = frame["text"].to_numpy(dtype=object) if has_text else None
    for p in range(len(order)):
        rows = np.flatnonzero(codes == p)
        n = len(rows)
        probs[p, :n], scores[p, :n], cands[p, :n], mask[p, :n] = prob[rows], score[rows], rids[rows], True
        if has_text:
            texts[p, :n] = text_col[rows]
        total = probs[p].sum()
        if not abs(total - 1.0) < 1e-6:
            raise DataError(f"{where}: prompt {order[p]!r} (rows {rows[0] + 1}-{rows[-1] + 1}): probabilities sum to "
                            f"{total:.6g}, expected 1")
    if rule is None:
        rules = frame["rule"].dropna().unique() if "rule" in frame.columns else []
        rule = str(rules[0]) if len(rules) == 1 else "lottery"
    return Lottery(probs, scores, rule, prompts=pd.Index(order, name="prompt_id"), candidates=cands, mask=mask,
                   texts=texts)
