"""PreferenceData: prompts, responses, annotators and their observations."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from .conversation import check_messages, extract_prompt, is_conversation, render_messages
from .summary import DataSummary, summarize
from .validation import (
    is_missing,
    parse_labels,
    require_frame,
    require_hashable,
    require_present,
    require_text,
    rows_text,
)

LABEL_NAMES = {1.0: "a", 0.0: "b", 0.5: "tie"}


@dataclass(frozen=True)
class ComparisonArrays:
    """Integer-coded pairwise comparisons (what models read).

    ``prompt``, ``a``, ``b`` index rows of ``data.prompts`` / ``data.responses``; ``y`` is
    1.0 when a won, 0.0 when b won, 0.5 for a tie; ``annotator`` indexes
    ``data.annotators`` (-1: unknown).
    """

    prompt: np.ndarray
    a: np.ndarray
    b: np.ndarray
    y: np.ndarray
    annotator: np.ndarray

    def __len__(self):
        return len(self.y)

    def take(self, idx) -> "ComparisonArrays":
        return ComparisonArrays(*(np.asarray(x)[idx] for x in (self.prompt, self.a, self.b, self.y, self.annotator)))


@dataclass(frozen=True)
class RankingArrays:
    """Integer-coded rankings: ``items`` (R, L) response codes best first, padded with -1."""

    items: np.ndarray
    length: np.ndarray
    prompt: np.ndarray
    annotator: np.ndarray

    def __len__(self):
        return len(self.length)

    def take(self, idx) -> "RankingArrays":
        items = self.items[idx]
        length = self.length[idx]
        width = int(length.max()) if len(length) else 0
        return RankingArrays(items[:, :width], length, self.prompt[idx], self.annotator[idx])


def _empty_comparisons():
    z = np.zeros(0, dtype=np.int64)
    return ComparisonArrays(z, z, z, np.zeros(0), z)


def _empty_rankings():
    z = np.zeros(0, dtype=np.int64)
    return RankingArrays(np.zeros((0, 0), dtype=np.int64), z, z, z)


def _text_response_id(prompt_id, text: str) -> str:
    # Content-derived ids: the same (prompt, text) gets the same id in every dataset and
    # split, so cached embeddings and fitted models line up without a lookup table.
    digest = hashlib.blake2b(f"{prompt_id}\x1f{text}".encode("utf-8", "surrogatepass"), digest_size=8)
    return "r" + digest.hexdigest()


class _Builder:
    """Interns prompts, responses and annotators while a constructor reads its rows."""

    def __init__(self, what, responses=None, prompts=None):
        self.what = what
        self.prompt_code: dict = {}
        self.prompt_ids: list = []
        self.prompt_texts: list = []
        self.prompt_messages: list = []
        self.response_code: dict = {}
        self.response_ids: list = []
        self.response_prompt: list = []
        self.response_texts: list = []
        self.response_messages: list = []
        self.annotator_code: dict = {}
        self.annotator_ids: list = []
        self.conversational = False
        self.prompt_text_of = self._read_prompts(prompts)
        self.mode = "text"
        self.table = None
        self.table_ids = None
        if isinstance(responses, str) and responses == "ids":
            self.mode = "id"
        elif responses is not None:
            self.mode = "id"
            self.table = self._read_responses(responses)
            self.table_ids = set(self.table["response_id"])

    # -- tables given by the user -------------------------------------------------------
    def _read_prompts(self, prompts):
        if prompts is None:
            return {}
        what = f"{self.what} prompts="
        require_frame(prompts, what, ["prompt_id", "text"])
        require_present(prompts, "prompt_id", what)
        require_hashable(prompts, "prompt_id", what)
        require_present(prompts, "text", what)
        require_text(prompts["text"].tolist(), "text", what, prompts.index)
        dup = prompts["prompt_id"].duplicated().to_numpy()
        if dup.any():
            raise DataError(f"{what}: column 'prompt_id' repeats ids in {rows_text(prompts.index[dup])}")
        return dict(zip(prompts["prompt_id"], prompts["text"]))

    def _read_responses(self, responses):
        what = f"{self.what} responses="
        require_frame(responses, what, ["response_id"])
        require_present(responses, "response_id", what)
        require_hashable(responses, "response_id", what)
        dup = responses["response_id"].duplicated().to_numpy()
        if dup.any():
            raise DataError(
                f"{what}: column 'response_id' repeats ids in {rows_text(responses.index[dup])}; "
                "expected each response once"
            )
        if "text" in responses.columns:
            require_present(responses, "text", what)
            require_text(responses["text"].tolist(), "text", what, responses.index)
        if "prompt_id" in responses.columns:
            require_present(responses, "prompt_id", what)
            require_hashable(responses, "prompt_id", what)
        return responses

    # -- interning ---------------------------------------------------------------------
    def prompt(self, key, messages=None) -> int:
        code = self.prompt_code.get(key)
        if code is None:
            code = len(self.prompt_ids)
            self.prompt_code[key] = code
            self.prompt_ids.append(key)
            text = self.prompt_text_of.get(key)
            if text is None:
                text = render_messages(messages) if messages is not None else str(key)
            self.prompt_texts.append(text)
            self.prompt_messages.append(messages)
        return code

    def prompt_codes(self, values, column, index) -> np.ndarray:
        return np.fromiter((self.prompt(v) for v in values), dtype=np.int64, count=len(values))

    def response(self, prompt_code, value, column, row, messages=None) -> int:
        if self.mode == "text":
            key = (prompt_code, value)
            code = self.response_code.get(key)
            if code is None:
                code = self._new_response(
                    _text_response_id(self.prompt_ids[prompt_code], value), prompt_code, value, messages
                )
                self.response_code[key] = code
            return code
        code = self.response_code.get(value)
        if code is None:
            if self.table_ids is not None and value not in self.table_ids:
                raise DataError(
                    f"{self.what}: column {column!r}, row {row!r}: response id {value!r} is not in the "
                    "responses= table; expected one of its 'response_id' values"
                )
            code = self._new_response(value, prompt_code, str(value), None)
            self.response_code[value] = code
        elif self.response_prompt[code] != prompt_code:
            raise DataError(
                f"{self.what}: column {column!r}, row {row!r}: response id {value!r} appears under two "
                f"prompts ({self.prompt_ids[self.response_prompt[code]]!r} and "
                f"{self.prompt_ids[prompt_code]!r}); expected each response id to belong to one prompt"
            )
        return code

    def _new_response(self, rid, prompt_code, text, messages) -> int:
        code = len(self.response_ids)
        self.response_ids.append(rid)
        self.response_prompt.append(prompt_code)
        self.response_texts.append(text)
        self.response_messages.append(messages)
        return code

    def response_codes(self, prompt_codes, values, column, index) -> np.ndarray:
        if self.mode == "text":
            require_text(values, column, self.what, index)
        return np.fromiter(
            (self.response(p, v, column, r) for p, v, r in zip(prompt_codes, values, index)),
            dtype=np.int64,
            count=len(values),
        )

    def annotator_codes(self, values) -> np.ndarray:
        if values is None:
            return None
        out = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            if is_missing(v):
                out[i] = -1  # unknown annotator: kept, never dropped
                continue
            code = self.annotator_code.get(v)
            if code is None:
                code = len(self.annotator_ids)
                self.annotator_code[v] = code
                self.annotator_ids.append(v)
            out[i] = code
        return out

    # -- the responses table given in id mode ----------------------------------------------
    def _register_table(self):
        """Responses of the ``responses=`` table that no observation used still belong to the data."""
        table = self.table
        has_prompt = "prompt_id" in table.columns
        texts = table["text"].tolist() if "text" in table.columns else None
        for i, (label, rid) in enumerate(zip(table.index, table["response_id"])):
            code = self.response_code.get(rid)
            if code is None:
                if not has_prompt:
                    raise DataError(
                        f"{self.what} responses=: column 'prompt_id' is needed: response id {rid!r} "
                        f"(row {label!r}) is in no observation, so its prompt is unknown"
                    )
                code = self._new_response(rid, self.prompt(table["prompt_id"].iloc[i]), str(rid), None)
                self.response_code[rid] = code
            elif has_prompt and self.prompt_ids[self.response_prompt[code]] != table["prompt_id"].iloc[i]:
                raise DataError(
                    f"{self.what} responses=: column 'prompt_id', row {label!r}: response {rid!r} belongs "
                    f"to prompt {table['prompt_id'].iloc[i]!r} in the table but is compared under "
                    f"{self.prompt_ids[self.response_prompt[code]]!r}"
                )
            if texts is not None:
                self.response_texts[code] = texts[i]

    def build(self, comparisons, rankings, response_key) -> "PreferenceData":
        if self.table is not None:
            self._register_table()
        prompts = pd.DataFrame({"prompt_id": self.prompt_ids, "text": self.prompt_texts})
        responses = pd.DataFrame(
            {"response_id": self.response_ids, "prompt_id": [self.prompt_ids[p] for p in self.response_prompt],
             "text": self.response_texts}
        )
        clash = responses["response_id"].duplicated(keep=False).to_numpy()
        if clash.any():
            # text-derived ids hash str(prompt id): prompt ids 1 and "1" would share response ids
            shown = sorted({repr(v) for v in responses["prompt_id"][clash]})[:5]
            raise DataError(
                f"{self.what}: prompt ids {', '.join(shown)} print the same, so their responses get the same "
                "ids; expected prompt ids that differ as text (e.g. all strings)"
            )
        if self.conversational:
            prompts["messages"] = pd.Series(self.prompt_messages, dtype=object)
            responses["messages"] = pd.Series(self.response_messages, dtype=object)
        return PreferenceData(
            prompts, responses, pd.Index(self.annotator_ids), comparisons, rankings, response_key=response_key
        )


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
        self.arrays = comparisons if comparisons is not None else _empty_comparisons()
        self.ranking_arrays = rankings if rankings is not None else _empty_rankings()
        self._response_key = response_key
        if len(self) == 0:
            raise DataError("PreferenceData: no comparisons and no rankings; expected at least one observation")

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

        Examples
        --------
        >>> import pandas as pd, mixpref as mp
        >>> df = pd.DataFrame({"prompt": ["p"], "response_a": ["x"], "response_b": ["y"], "label": [True]})
        >>> mp.PreferenceData.from_frame(df).comparisons["label"].tolist()
        ['a']
        """
        what = "from_frame"
        columns = [prompt, response_a, response_b, label, annotator]
        require_frame(df, what, columns)
        # an observation may lack an annotator id (merged sources): it is kept, coded -1
        for col in (c for c in columns if c is not None and c != annotator):
            require_present(df, col, what)
        for col in (c for c in (prompt, response_a, response_b, annotator) if c is not None):
            require_hashable(df, col, what)
        y = parse_labels(df, label, what)
        builder = _Builder(what, responses=responses, prompts=prompts)
        prompt_values = df[prompt].tolist() if prompt is not None else ["default"] * len(df)
        p = builder.prompt_codes(prompt_values, prompt, df.index)
        a = builder.response_codes(p, df[response_a].tolist(), response_a, df.index)
        b = builder.response_codes(p, df[response_b].tolist(), response_b, df.index)
        same = a == b
        if same.any():
            raise DataError(
                f"{what}: columns {response_a!r} and {response_b!r} name the same response in "
                f"{rows_text(df.index[same])}; expected two different responses"
            )
        ann = builder.annotator_codes(df[annotator].tolist() if annotator else None)
        ann = ann if ann is not None else np.full(len(df), -1, dtype=np.int64)
        return builder.build(ComparisonArrays(p, a, b, y, ann), None, builder.mode)

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
        what = "from_pairs"
        implicit = prompt is not None and isinstance(df, pd.DataFrame) and prompt not in df.columns and prompt == "prompt"
        columns = [None if implicit else prompt, chosen, rejected, annotator]
        require_frame(df, what, columns)
        # an observation may lack an annotator id (merged sources): it is kept, coded -1
        for col in (c for c in columns if c is not None and c != annotator):
            require_present(df, col, what)
        if annotator is not None:
            require_hashable(df, annotator, what)
        builder = _Builder(what)
        n = len(df)
        p = np.empty(n, dtype=np.int64)
        a = np.empty(n, dtype=np.int64)
        b = np.empty(n, dtype=np.int64)
        prompt_values = df[prompt].tolist() if not implicit and prompt is not None else [None] * n
        for i, (row, pv, cv, rv) in enumerate(zip(df.index, prompt_values, df[chosen].tolist(), df[rejected].tolist())):
            cv = _field(cv, chosen, row, what)
            rv = _field(rv, rejected, row, what)
            if implicit:
                if type(cv) is not type(rv):
                    raise DataError(
                        f"{what}: columns {chosen!r} and {rejected!r}, row {row!r}: one is a conversation and the "
                        "other a string; expected the same kind (or give a prompt column)"
                    )
                pv, cv, rv = extract_prompt(cv, rv)
            elif prompt is None:
                pv = "default"
            else:
                pv = _field(pv, prompt, row, what)
            if isinstance(pv, tuple):
                builder.conversational = True
                p[i] = builder.prompt(render_messages(pv), messages=list(pv))
            else:
                p[i] = builder.prompt(pv)
            a[i] = _pair_response(builder, p[i], cv, chosen, row)
            b[i] = _pair_response(builder, p[i], rv, rejected, row)
            if a[i] == b[i]:
                raise DataError(
                    f"{what}: columns {chosen!r} and {rejected!r}, row {row!r}: chosen and rejected are the "
                    "same response; expected two different responses"
                )
        ann = builder.annotator_codes(df[annotator].tolist() if annotator else None)
        ann = ann if ann is not None else np.full(n, -1, dtype=np.int64)
        return builder.build(ComparisonArrays(p, a, b, np.ones(n), ann), None, "text")

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
        what = "from_rankings"
        columns = [prompt, ranking, annotator]
        require_frame(df, what, columns)
        # an observation may lack an annotator id (merged sources): it is kept, coded -1
        for col in (c for c in columns if c is not None and c != annotator):
            require_present(df, col, what)
        for col in (c for c in (prompt, annotator) if c is not None):
            require_hashable(df, col, what)
        builder = _Builder(what, responses=responses, prompts=prompts)
        lists = [_ranking_list(v, ranking, row, what, builder.mode) for row, v in zip(df.index, df[ranking].tolist())]
        prompt_values = df[prompt].tolist() if prompt is not None else ["default"] * len(df)
        p = builder.prompt_codes(prompt_values, prompt, df.index)
        width = max(len(x) for x in lists)
        items = np.full((len(lists), width), -1, dtype=np.int64)
        for i, (row, pc, items_i) in enumerate(zip(df.index, p, lists)):
            codes = [builder.response(pc, v, ranking, row) for v in items_i]
            if len(set(codes)) != len(codes):
                raise DataError(
                    f"{what}: column {ranking!r}, row {row!r}: the ranking lists a response twice; "
                    "expected distinct responses"
                )
            items[i, : len(codes)] = codes
        length = np.array([len(x) for x in lists], dtype=np.int64)
        ann = builder.annotator_codes(df[annotator].tolist() if annotator else None)
        ann = ann if ann is not None else np.full(len(df), -1, dtype=np.int64)
        return builder.build(None, RankingArrays(items, length, p, ann), builder.mode)

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
    def _take(self, comparison_idx, ranking_idx) -> "PreferenceData":
        return PreferenceData(
            self.prompts,
            self.responses,
            self.annotators,
            self.arrays.take(comparison_idx),
            self.ranking_arrays.take(ranking_idx),
            response_key=self._response_key,
        )

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
        prompts, annotators = _id_list(prompts), _id_list(annotators)
        prompt_ids = self.prompts["prompt_id"]
        keep_p = np.ones(len(prompt_ids), dtype=bool) if prompts is None else prompt_ids.isin(prompts).to_numpy()
        if prompts is not None:
            unknown = set(prompts) - set(prompt_ids)
            if unknown:
                raise DataError(f"select: unknown prompt id(s) {sorted(map(str, unknown))[:5]}; expected ids of data.prompts")
        keep_a = np.ones(len(self.annotators), dtype=bool)
        if annotators is not None:
            if not self.has_annotators:
                raise DataError("select(annotators=...): the data has no annotator column")
            unknown = set(annotators) - set(self.annotators)
            if unknown:
                raise DataError(
                    f"select: unknown annotator id(s) {sorted(map(str, unknown))[:5]}; expected ids of data.annotators"
                )
            keep_a = self.annotators.isin(annotators)
        arr, ra = self.arrays, self.ranking_arrays

        def kept(prompt_codes, annotator_codes):
            ok = keep_p[prompt_codes]
            if annotators is not None:
                ok &= (annotator_codes >= 0) & keep_a[np.maximum(annotator_codes, 0)]
            return np.flatnonzero(ok)

        arr, ra = arr.take(kept(arr.prompt, arr.annotator)), ra.take(kept(ra.prompt, ra.annotator))
        if len(arr) + len(ra) == 0:
            raise DataError("select: no observation is left; expected prompts/annotators that have observations")
        new_prompt = np.cumsum(keep_p) - 1
        resp_prompt_code = pd.Index(prompt_ids).get_indexer(self.responses["prompt_id"])
        resp_keep = keep_p[resp_prompt_code]
        new_resp = np.cumsum(resp_keep) - 1
        used = np.zeros(len(self.annotators), dtype=bool)
        for codes in (arr.annotator, ra.annotator):
            used[codes[codes >= 0]] = True
        new_ann = np.cumsum(used) - 1

        def recode_annotators(codes):
            return np.where(codes >= 0, new_ann[np.maximum(codes, 0)], -1)

        items = np.where(ra.items >= 0, new_resp[np.maximum(ra.items, 0)], -1)
        return PreferenceData(
            self.prompts[keep_p].reset_index(drop=True),
            self.responses[resp_keep].reset_index(drop=True),
            self.annotators[used],
            ComparisonArrays(new_prompt[arr.prompt], new_resp[arr.a], new_resp[arr.b], arr.y, recode_annotators(arr.annotator)),
            RankingArrays(items, ra.length, new_prompt[ra.prompt], recode_annotators(ra.annotator)),
            response_key=self._response_key,
        )

    def implied_comparisons(self) -> "PreferenceData":
        """Rankings expanded to every implied pair (winner first), plus the comparisons.

        A ranking ``[x, y, z]`` implies x > y, x > z and y > z.
        """
        ra = self.ranking_arrays
        parts = [self.arrays]
        for r in range(len(ra)):
            n = int(ra.length[r])
            i, j = np.triu_indices(n, k=1)
            row = ra.items[r]
            parts.append(
                ComparisonArrays(
                    np.full(len(i), ra.prompt[r]), row[i], row[j], np.ones(len(i)), np.full(len(i), ra.annotator[r])
                )
            )
        merged = ComparisonArrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("prompt", "a", "b", "y", "annotator")))
        return PreferenceData(self.prompts, self.responses, self.annotators, merged, None, response_key=self._response_key)

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
        from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

        if not (isinstance(test_size, (float, int)) and 0 < float(test_size) < 1):
            raise DataError(f"split: test_size={test_size!r}; expected a fraction between 0 and 1")
        n_c, n_r = len(self.arrays), len(self.ranking_arrays)
        if by == "observation":
            groups = np.arange(n_c + n_r)
        elif by == "annotator":
            if not self.has_annotators:
                raise DataError("split(by='annotator'): the data has no annotator column; use by='observation' or 'prompt'")
            groups = np.concatenate([self.arrays.annotator, self.ranking_arrays.annotator])
        elif by == "prompt":
            groups = np.concatenate([self.arrays.prompt, self.ranking_arrays.prompt])
        else:
            raise DataError(f"split: by={by!r}; expected 'observation', 'annotator' or 'prompt'")
        if len(np.unique(groups)) < 2:
            raise DataError(f"split(by={by!r}): only one {by} in the data; cannot make two disjoint parts")
        splitter = (ShuffleSplit if by == "observation" else GroupShuffleSplit)(
            n_splits=1, test_size=float(test_size), random_state=random_state
        )
        group_arg = {} if by == "observation" else {"groups": groups}
        train_idx, test_idx = next(splitter.split(np.zeros(len(groups)), **group_arg))
        train_idx.sort()
        test_idx.sort()

        def part(idx):
            return self._take(idx[idx < n_c], idx[idx >= n_c] - n_c)

        return part(train_idx), part(test_idx)

    def to_frame(self) -> pd.DataFrame:
        """Comparisons in long format, as :meth:`from_frame` reads them back.

        Columns ``prompt, response_a, response_b, label`` and ``annotator`` when the data has
        annotators. Responses are texts when the data was built from texts, else ids;
        rankings are not included (see :attr:`rankings` and :meth:`implied_comparisons`).
        """
        arr = self.arrays
        column = "text" if self._response_key == "text" else "response_id"
        values = self.responses[column].to_numpy(dtype=object)
        frame = pd.DataFrame(
            {
                "prompt": self.prompts["prompt_id"].to_numpy(dtype=object)[arr.prompt],
                "response_a": values[arr.a],
                "response_b": values[arr.b],
                "label": [LABEL_NAMES[v] for v in arr.y.tolist()],
            }
        )
        if self.has_annotators:
            frame["annotator"] = self._annotator_values(arr.annotator)
        return frame

    def to_pairs(self) -> pd.DataFrame:
        """TRL's format (prompt, chosen, rejected), conversations restored where given.

        Raises DataError when the data holds ties, which the format cannot express.
        """
        arr = self.arrays
        if (arr.y == 0.5).any():
            raise DataError("to_pairs: column 'label' holds ties, which prompt/chosen/rejected cannot express; use to_frame()")

        def field(table):
            # a conversation where one was given, else the text (a conversational prompt may
            # come with string responses, and the other way round)
            text = table["text"].to_numpy(dtype=object)
            if "messages" not in table.columns:
                return text
            messages = table["messages"].to_numpy(dtype=object)
            out = np.empty(len(text), dtype=object)
            for i, (t, m) in enumerate(zip(text, messages)):
                out[i] = t if m is None else m
            return out

        ptext = field(self.prompts)
        rtext = field(self.responses)
        win = np.where(arr.y == 1.0, arr.a, arr.b)
        lose = np.where(arr.y == 1.0, arr.b, arr.a)
        frame = pd.DataFrame({"prompt": ptext[arr.prompt], "chosen": rtext[win], "rejected": rtext[lose]})
        if self.has_annotators:
            frame["annotator"] = self._annotator_values(arr.annotator)
        return frame


def _id_list(ids):
    """None, or the ids as a list (one id, a string included, becomes a list of one)."""
    if ids is None:
        return None
    if isinstance(ids, str) or not np.iterable(ids):
        return [ids]
    return list(ids)


def _field(value, column, row, what):
    """A pairs field: a string, or a conversation returned as a tuple of messages."""
    if isinstance(value, str):
        return value
    if is_conversation(value) or isinstance(value, (list, tuple, np.ndarray)):
        return check_messages(value, column, row, what)
    raise DataError(
        f"{what}: column {column!r}, row {row!r}: got {type(value).__name__} {str(value)[:40]!r}; "
        "expected a string or a list of {'role', 'content'} messages"
    )


def _pair_response(builder, prompt_code, value, column, row):
    if isinstance(value, tuple):
        builder.conversational = True
        text = render_messages(value)
        code = builder.response(prompt_code, text, column, row)
        builder.response_messages[code] = list(value)
        return code
    return builder.response(prompt_code, value, column, row)


def _ranking_list(value, column, row, what, mode):
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list):
            raise DataError(
                f"{what}: column {column!r}, row {row!r}: got the string {value[:40]!r}; expected a list of "
                "responses, best first (a JSON list in text files)"
            )
        value = parsed
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise DataError(
            f"{what}: column {column!r}, row {row!r}: got {type(value).__name__}; expected a list of responses, best first"
        )
    items = list(value)
    if len(items) < 2:
        raise DataError(f"{what}: column {column!r}, row {row!r}: a ranking of {len(items)} item(s); expected 2 or more")
    for item in items:
        if is_missing(item):
            raise DataError(f"{what}: column {column!r}, row {row!r}: the ranking holds a missing value")
        if mode == "text" and not isinstance(item, str):
            raise DataError(
                f"{what}: column {column!r}, row {row!r}: item {str(item)[:40]!r} is not a text; expected "
                "response texts (or pass responses= to give ids)"
            )
        try:
            hash(item)
        except TypeError:
            raise DataError(
                f"{what}: column {column!r}, row {row!r}: item of type {type(item).__name__} is unhashable; "
                "expected response ids or texts"
            ) from None
    if len(set(items)) != len(items):
        raise DataError(
            f"{what}: column {column!r}, row {row!r}: the ranking lists a response twice; expected distinct responses"
        )
    return items
