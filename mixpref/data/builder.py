"""The builder that interns prompts, responses and annotators while a constructor reads rows."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ..errors import DataError
from .conversation import render_messages
from .validation import is_missing, require_frame, require_hashable, require_present, require_text, rows_text


def text_response_id(prompt_id, text: str) -> str:
    # Content-derived ids: the same (prompt, text) gets the same id in every dataset and
    # split, so cached embeddings and fitted models line up without a lookup table.
    digest = hashlib.blake2b(f"{prompt_id}\x1f{text}".encode("utf-8", "surrogatepass"), digest_size=8)
    return "r" + digest.hexdigest()


class Builder:
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
                    text_response_id(self.prompt_ids[prompt_code], value), prompt_code, value, messages
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
                f"{self.prompt_ids[prompt_code]!r}); expected each response id to belong to one prompt (for items "
                "shared across prompts, such as model names, read the responses as texts, the default, or pass "
                "prompt=None)"
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

    def build(self, cls, comparisons, rankings, response_key):
        """``cls(...)`` (a PreferenceData) from what was interned and the coded observations."""
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
        return cls(prompts, responses, pd.Index(self.annotator_ids), comparisons, rankings, response_key=response_key)
