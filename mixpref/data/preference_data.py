"""PreferenceData: prompts, responses, annotators and their observations.

The class is the public face; its parts live beside it: ``arrays`` (the integer-coded
observations), ``builder`` (interning prompts, responses, annotators), ``labels`` (label
words, codes and label maps), ``constructors`` (frames, pairs, rankings) and
``operations`` (select, split, to_frame, to_pairs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from . import operations
from .arrays import LABEL_NAMES, ComparisonArrays, RankingArrays, empty_comparisons, empty_rankings
from .constructors import frame_data, pairs_data, rankings_data
from .summary import DataSummary, summarize

__all__ = ["PreferenceData", "ComparisonArrays", "RankingArrays", "LABEL_NAMES"]


class PreferenceData:
    """Prompts, their responses, annotators, and pairwise comparisons and rankings.

    Build it with :meth:`from_frame` (long format), :meth:`from_pairs` (TRL's
    prompt/chosen/rejected) or :meth:`from_rankings`; :func:`mixpref.read` picks a reader
    from a file's extension. Everything is integer-coded internally (``arrays``,
    ``ranking_arrays``) while every table and output uses the original ids.

    Examples
    --------
    >>> import pandas as pd, mixpref as mp
    >>> df = pd.DataFrame({"prompt": ["p", "p", "q"], "response_a": ["x", "y", "u"],
    ...                    "response_b": ["y", "z", "v"], "label": ["a", "tie", 0],
    ...                    "annotator": ["ann1", "ann2", "ann1"]})
    >>> data = mp.PreferenceData.from_frame(df, annotator="annotator")
    >>> len(data), len(data.responses), list(data.annotators)
    (3, 5, ['ann1', 'ann2'])
    >>> data.to_frame()["label"].tolist()
    ['a', 'tie', 'b']
    """

    def __init__(self, prompts, responses, annotators, comparisons=None, rankings=None, response_key="id"):
        self.prompts = prompts
        self.responses = responses
        self.annotators = annotators
        self.arrays = comparisons if comparisons is not None else empty_comparisons()
        self.ranking_arrays = rankings if rankings is not None else empty_rankings()
        self._response_key = response_key
        if len(self) == 0:
            raise DataError("PreferenceData: no comparisons and no rankings; expected at least one observation")
        y = np.asarray(self.arrays.y)
        odd = ~np.isin(y, (0.0, 0.5, 1.0))
        if odd.any():
            raise DataError(
                f"PreferenceData: comparison codes y hold {np.unique(y[odd])[:5].tolist()} at positions "
                f"{np.flatnonzero(odd)[:5].tolist()} ({int(odd.sum()):,} in all); expected 1.0 (a won), 0.0 (b won) "
                "or 0.5 (tie)"
            )

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        df,
        prompt="prompt",
        response_a="response_a",
        response_b="response_b",
        label="label",
        annotator=None,
        responses=None,
        prompts=None,
        label_map=None,
    ) -> "PreferenceData":
        """Long format: one row per comparison.

        Parameters
        ----------
        df : pandas.DataFrame
        prompt, response_a, response_b, label : str
            Column names. ``prompt=None`` puts every comparison under one prompt (item-level
            data). Labels: ``"a"``/``"b"``/``"tie"``, ``1``/``0``/``0.5`` or booleans
            (True: a won).
        annotator : str, optional
            Column of annotator ids. A missing id (None/NaN) marks an observation by an unknown
            annotator (code -1): it is kept, and a mixture treats it as its own annotator.
        responses : None, "ids" or DataFrame
            None: the response columns hold texts (ids are derived from prompt and text).
            ``"ids"``: they hold ids. A DataFrame with ``response_id`` and optionally
            ``text`` and ``prompt_id``: they hold ids, texts come from the table, and
            responses of the table that no comparison uses are kept.
        prompts : DataFrame, optional
            ``prompt_id``, ``text``: the prompt texts when the prompt column holds ids.
        label_map : dict, optional
            What the file's own labels mean: ``{raw label: "a" | "b" | "tie"}`` (or 1, 0,
            0.5), e.g. ``{"model_a": "a", "model_b": "b", "tie": "tie"}``. Keys match the raw
            labels, also by their text and as numbers (``{"1": "a"}`` matches 1 and 1.0),
            so ``{"1": "a", "-1": "b", "0": "tie"}`` reads survey codes. With a map its keys
            are the whole vocabulary: any other label raises :class:`DataError` listing them.

        Raises
        ------
        DataError
            Naming the column, the offending rows (the frame's index labels; :func:`mixpref.read`
            gives line numbers of the file), how many there are, and what was expected.

        Examples
        --------
        >>> import pandas as pd, mixpref as mp
        >>> df = pd.DataFrame({"prompt": ["p"], "response_a": ["x"], "response_b": ["y"], "label": [True]})
        >>> mp.PreferenceData.from_frame(df).comparisons["label"].tolist()
        ['a']
        >>> mt = pd.DataFrame({"question_id": [1, 1], "model_a": ["gpt-4", "vicuna"],
        ...                    "model_b": ["vicuna", "gpt-4"], "winner": ["model_a", "tie"]})
        >>> d = mp.PreferenceData.from_frame(mt, prompt="question_id", response_a="model_a", response_b="model_b",
        ...                                  label="winner", label_map={"model_a": "a", "model_b": "b", "tie": "tie"})
        >>> d.comparisons["label"].tolist()
        ['a', 'tie']
        """
        return frame_data(cls, df, prompt, response_a, response_b, label, annotator, responses, prompts, label_map)

    @classmethod
    def from_pairs(cls, df, prompt="prompt", chosen="chosen", rejected="rejected", annotator=None) -> "PreferenceData":
        """TRL's preference format: ``prompt, chosen, rejected`` (chosen won).

        Fields are strings or conversations (lists of ``{"role", "content"}`` messages); a
        conversation is kept (``messages`` columns) and rendered to text deterministically.
        Without a prompt column (TRL's implicit prompt) the prompt is the common prefix of
        chosen and rejected.

        Examples
        --------
        >>> import pandas as pd, mixpref as mp
        >>> df = pd.DataFrame({"chosen": ["Q: hi A: hello"], "rejected": ["Q: hi A: go away"]})
        >>> d = mp.PreferenceData.from_pairs(df)
        >>> d.prompts["text"].tolist(), d.responses["text"].tolist()
        (['Q: hi A:'], [' hello', ' go away'])
        """
        return pairs_data(cls, df, prompt, chosen, rejected, annotator)

    @classmethod
    def from_rankings(cls, df, prompt="prompt", ranking="ranking", annotator=None, responses=None, prompts=None) -> "PreferenceData":
        """Rankings: one row per ranking, an ordered list of 2+ responses, best first.

        Responses are texts unless ``responses`` says otherwise (as in :meth:`from_frame`).
        A ranking stored as a JSON string (as CSV files hold lists) is parsed.

        Examples
        --------
        >>> import pandas as pd, mixpref as mp
        >>> df = pd.DataFrame({"prompt": ["p"], "ranking": [["best", "middle", "worst"]]})
        >>> d = mp.PreferenceData.from_rankings(df)
        >>> len(d), len(d.implied_comparisons())
        (1, 3)
        """
        return rankings_data(cls, df, prompt, ranking, annotator, responses, prompts)

    # -- accessors ---------------------------------------------------------------------
    def __len__(self):
        return len(self.arrays) + len(self.ranking_arrays)

    def __repr__(self):
        return (
            f"PreferenceData(prompts={len(self.prompts)}, responses={len(self.responses)}, "
            f"annotators={len(self.annotators)}, comparisons={len(self.arrays)}, rankings={len(self.ranking_arrays)})"
        )

    @property
    def has_annotators(self) -> bool:
        """Whether the data has an annotator table (observations without an id have code -1)."""
        return len(self.annotators) > 0

    def _annotator_values(self, codes):
        if not self.has_annotators:
            return [None] * len(codes)
        ids = np.asarray(self.annotators, dtype=object)
        return [ids[c] if c >= 0 else None for c in codes]

    @property
    def comparisons(self) -> pd.DataFrame:
        """Comparisons with original ids: prompt_id, response_a, response_b, label, annotator."""
        arr = self.arrays
        rid = self.responses["response_id"].to_numpy(dtype=object)
        return pd.DataFrame(
            {
                "prompt_id": self.prompts["prompt_id"].to_numpy(dtype=object)[arr.prompt],
                "response_a": rid[arr.a],
                "response_b": rid[arr.b],
                "label": [LABEL_NAMES[v] for v in arr.y.tolist()],
                "annotator": self._annotator_values(arr.annotator),
            }
        )

    @property
    def rankings(self) -> pd.DataFrame:
        """Rankings with original ids: prompt_id, ranking (list, best first), annotator."""
        ra = self.ranking_arrays
        rid = self.responses["response_id"].to_numpy(dtype=object)
        return pd.DataFrame(
            {
                "prompt_id": self.prompts["prompt_id"].to_numpy(dtype=object)[ra.prompt],
                "ranking": [rid[row[:n]].tolist() for row, n in zip(ra.items, ra.length)],
                "annotator": self._annotator_values(ra.annotator),
            }
        )

    def candidates(self) -> pd.DataFrame:
        """Each prompt's responses (prompt_id, response_id), in code order."""
        return self.responses[["prompt_id", "response_id"]].copy()

    def summary(self) -> DataSummary:
        """Counts, per-annotator distribution, ties, repeated votes, majority cycles."""
        return summarize(self)

    # -- transformations -----------------------------------------------------------------
    def select(self, prompts=None, annotators=None) -> "PreferenceData":
        """The observations of some prompts and/or annotators, with tables cut to match.

        Unlike :meth:`split` (which keeps the full tables so parts stay aligned), the result
        holds only the selected prompts, *all* their responses, and the annotators that
        still have observations, re-coded from 0.

        Examples
        --------
        >>> import mixpref as mp
        >>> data = mp.synthetic.population(n_annotators=10, comparisons_per_annotator=20, dim=4, n_prompts=5).data
        >>> part = data.select(prompts=["p0", "p1"])
        >>> len(part.prompts), len(part.responses), sorted(set(part.comparisons.prompt_id))
        (2, 40, ['p0', 'p1'])
        """
        return operations.select(self, prompts, annotators)

    def implied_comparisons(self) -> "PreferenceData":
        """Rankings expanded to every implied pair (winner first), plus the comparisons.

        A ranking ``[x, y, z]`` implies x > y, x > z and y > z.
        """
        return operations.implied_comparisons(self)

    def split(self, test_size=0.2, by="observation", random_state=0):
        """Split observations into (train, test).

        Parameters
        ----------
        test_size : float in (0, 1)
            Fraction of the observations, or with ``by="annotator"``/``"prompt"`` of the
            annotators (prompts): the share of observations then varies with their sizes.
        by : {"observation", "annotator", "prompt"}
            ``"annotator"`` and ``"prompt"`` keep each annotator (prompt) on one side.
        random_state : int

        Both parts keep the full prompt, response and annotator tables, so features and
        annotator codes align across them.

        Examples
        --------
        >>> import mixpref as mp
        >>> data = mp.synthetic.population(n_annotators=10, comparisons_per_annotator=5, dim=4).data
        >>> train, test = data.split(by="annotator")
        >>> set(train.comparisons.annotator) & set(test.comparisons.annotator)
        set()
        """
        return operations.split(self, test_size, by, random_state)

    def to_frame(self) -> pd.DataFrame:
        """Comparisons in long format, as :meth:`from_frame` reads them back.

        Columns ``prompt, response_a, response_b, label`` and ``annotator`` when the data has
        annotators. Responses are texts when the data was built from texts, else ids;
        rankings are not included (see :attr:`rankings` and :meth:`implied_comparisons`).
        """
        return operations.to_frame(self)

    def to_pairs(self) -> pd.DataFrame:
        """TRL's format (prompt, chosen, rejected), conversations restored where given.

        Raises DataError when the data holds ties, which the format cannot express.
        """
        return operations.to_pairs(self)
