"""Conversational fields (TRL's lists of ``{"role", "content"}`` messages)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import DataError


def is_conversation(value) -> bool:
    """A list/tuple/array of message mappings."""
    return isinstance(value, (list, tuple, np.ndarray)) and len(value) > 0 and all(
        isinstance(m, Mapping) for m in value
    )


def check_messages(value, column: str, row, what: str) -> tuple:
    """Validate one conversational value and return it as a tuple of plain dicts."""
    if not isinstance(value, (list, tuple, np.ndarray)) or len(value) == 0:
        raise DataError(
            f"{what}: column {column!r}, row {row!r}: expected a non-empty list of "
            "{'role', 'content'} messages or a string"
        )
    messages = []
    for k, message in enumerate(value):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str) or not isinstance(
            message.get("content"), str
        ):
            raise DataError(
                f"{what}: column {column!r}, row {row!r}, message {k}: expected a mapping with "
                f"string 'role' and 'content', got {str(message)[:60]!r}"
            )
        messages.append({"role": message["role"], "content": message["content"]})
    return tuple(messages)


def render_messages(messages) -> str:
    """Render messages to text deterministically: one ``role: content`` block per message.

    Examples
    --------
    >>> render_messages([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}])
    'user: Hi\\n\\nassistant: Hello'
    """
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def extract_prompt(chosen, rejected):
    """Split implicit-prompt pairs (TRL's convention) into (prompt, chosen, rejected).

    For strings the prompt is the longest common prefix (ending before a trailing space, as
    TRL's ``extract_prompt`` does); for conversations it is the longest common run of
    leading messages.
    """
    if isinstance(chosen, str) and isinstance(rejected, str):
        n = 0
        limit = min(len(chosen), len(rejected))
        while n < limit and chosen[n] == rejected[n]:
            n += 1
        if 0 < n < limit and chosen[n - 1] == " ":
            n -= 1
        return chosen[:n], chosen[n:], rejected[n:]
    n = 0
    limit = min(len(chosen), len(rejected))
    while n < limit and chosen[n] == rejected[n]:
        n += 1
    return tuple(chosen[:n]), tuple(chosen[n:]), tuple(rejected[n:])
