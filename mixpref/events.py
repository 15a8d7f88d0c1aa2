"""Events that computation emits and observers (such as mlflow tracking) receive.

Computation never logs: a fit or an aggregation calls :func:`emit` with what it produced,
and whoever subscribed (``mp.Study`` while active, or :func:`mixpref.autolog`) decides what
to do with it, in the spirit of ``mlflow.autolog``. Nothing here imports a framework.

Events and their payloads:

- ``"fit"``: ``model`` (the fitted estimator), ``study`` (the caller's ``study=`` argument,
  passed through untouched: None, False, a Study or a Run).
- ``"aggregate"``: ``lottery``, ``rule``, ``options``, ``study``.

Examples
--------
>>> from mixpref import events
>>> seen = []
>>> handle = events.subscribe(lambda name, payload: seen.append((name, payload["x"])))
>>> events.emit("demo", x=1)
>>> events.unsubscribe(handle)
>>> events.emit("demo", x=2)
>>> seen
[('demo', 1)]
"""

from __future__ import annotations

import warnings

_OBSERVERS: list = []


def subscribe(callback):
    """Call ``callback(name, payload)`` on every event; returns a handle for :func:`unsubscribe`.

    Subscribing the same callback twice keeps one subscription.
    """
    if callback not in _OBSERVERS:
        _OBSERVERS.append(callback)
    return callback


def unsubscribe(handle) -> None:
    """Stop calling ``handle`` (a no-op when it is not subscribed)."""
    if handle in _OBSERVERS:
        _OBSERVERS.remove(handle)


def observers() -> tuple:
    """The callbacks subscribed now (first subscribed first)."""
    return tuple(_OBSERVERS)


def emit(name: str, **payload) -> None:
    """Tell every observer that ``name`` happened.

    An observer that raises never breaks the computation that emitted the event: its error
    becomes a warning (a failure to log must never lose a fit).
    """
    for callback in tuple(_OBSERVERS):
        try:
            callback(name, payload)
        except Exception as err:  # broad on purpose: an observer's failure must not lose a result
            warnings.warn(f"mixpref: an observer of {name!r} failed: {type(err).__name__}: {err}", RuntimeWarning,
                          stacklevel=2)
