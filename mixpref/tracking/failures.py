"""How tracking fails: one warning class, pointed at the user's code, and mlflow kept quiet.

A failure to log is never an error of the computation: it becomes a
:class:`MixprefTrackingWarning` whose stack level is the first frame outside mixpref, and
mlflow's own INFO chatter and warnings stay out of the user's console.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

# the whole mixpref package, so a warning raised from a fit's event skips models/ too
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class MixprefTrackingWarning(UserWarning):
    """Something was not logged to mlflow (the computation and local outputs are unaffected)."""


def user_stacklevel() -> int:
    """The stacklevel of the first frame outside mixpref, so a warning points at user code."""
    frame, level = sys._getframe(1), 1  # level 1 = the caller of warnings.warn
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def first_line(err) -> str:
    """The first line of an error's message (its type name when the message is empty).

    Examples
    --------
    >>> first_line(OSError("disk full\\nmore detail"))
    'disk full'
    >>> first_line(KeyError())
    'KeyError'
    """
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@contextlib.contextmanager
def quiet():
    """Keep mlflow's and alembic's INFO chatter and mlflow's own warnings out of the user's console."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic", "sqlalchemy")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
