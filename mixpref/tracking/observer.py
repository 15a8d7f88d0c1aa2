"""The observer that logs fits and aggregations, in the spirit of ``mlflow.autolog``.

Computation never imports tracking: ``fit`` and ``aggregate`` only call
``mixpref.events.emit``. A :class:`~mixpref.tracking.Study` subscribes :func:`_observe` when
it is created (so does :func:`autolog`); the observer sends each event to the run the
caller's ``study=`` names (None: the active study's innermost run; False: nowhere).

Within one run every key is logged once: the second fit of a model class (or the second
aggregation with a rule) in the same run is logged under ``<Class>-2.``, the third under
``<Class>-3.`` and so on, so a run never holds two values for one parameter and no metric
key repeats at the same step.
"""

from __future__ import annotations

from .. import events
from .registry import log_to, resolve_study


def _prefix(target, name) -> str:
    """``name`` for the first event of that name in ``target``, ``name-<n>`` for the n-th."""
    count = target._observed.get(name, 0) + 1
    target._observed[name] = count
    return name if count == 1 else f"{name}-{count}"


def _scalar_params(mapping, prefix) -> dict:
    return {f"{prefix}.{k}": v for k, v in mapping.items() if isinstance(v, (int, float, str, bool))}


def _fit_record(model, prefix):
    params = _scalar_params(model.get_params(), prefix)
    metrics = {}
    for key, attribute in (("train_objective", "objective_"), ("fit_seconds", "fit_seconds_")):
        value = getattr(model, attribute, None)
        if value is not None:
            metrics[key] = float(value)
    weights = getattr(model, "weights_", None)
    if weights is not None:
        metrics.update({f"weight_{k}": float(w) for k, w in enumerate(weights)})
    return params, {f"{prefix}.{k}": v for k, v in metrics.items()}


def _aggregate_record(lottery, options, prefix):
    support = (lottery.probs > 1e-9).sum(axis=1)
    metrics = {f"{prefix}.exploitability": float(lottery.exploitability().mean()),
               f"{prefix}.support": float(support.mean())}
    return _scalar_params(options or {}, prefix), metrics


def _observe(name, payload):
    """Log a ``fit`` or ``aggregate`` event to the study it names (or the active one).

    A failure here (an estimator without the usual attributes, say) becomes one
    :class:`MixprefTrackingWarning` of kind ``autolog`` and never reaches the computation.
    """
    if name not in ("fit", "aggregate"):
        return
    study = payload.get("study")
    target = resolve_study(study)
    if target is None:
        return
    what = type(payload.get("model")).__name__ if name == "fit" else str(payload.get("rule"))
    try:
        if name == "fit":
            params, metrics = _fit_record(payload["model"], _prefix(target, what))
        else:
            params, metrics = _aggregate_record(payload["lottery"], payload.get("options"), _prefix(target, what))
    except Exception as err:  # a failure to log must never lose a fit
        target.study._failed("autolog", f"{name} of {what} in {target._label}", err)
        return
    log_to(target, params=params, metrics=metrics)


def autolog() -> None:
    """Log every fit and aggregation to the active :class:`Study` (or the one passed as ``study=``).

    A :class:`Study` turns this on when it is created; calling it is needed only to restore
    logging after :func:`disable_autolog`.

    Examples
    --------
    >>> import mixpref as mp
    >>> mp.autolog()
    """
    events.subscribe(_observe)


def disable_autolog() -> None:
    """Stop logging fits and aggregations (explicit ``log_*`` calls on a study still log).

    Examples
    --------
    >>> from mixpref.tracking import autolog, disable_autolog
    >>> disable_autolog()
    >>> autolog()
    """
    events.unsubscribe(_observe)
