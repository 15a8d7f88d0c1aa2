"""Which study is active, and where a fit or an aggregation logs (``study=`` resolution).

Studies register themselves here when their ``with`` block starts and leave when it ends;
the innermost one is "the active study". Fits and aggregations take ``study=``:
``None`` means the active study's innermost run (if any), ``False`` means nowhere.
"""

from __future__ import annotations

from .scope import _Scope

# the studies whose `with` block is running, outermost first
_ACTIVE_STUDIES: list = []


def enter(study) -> None:
    """Make ``study`` the active study (called by ``Study.__enter__``)."""
    _ACTIVE_STUDIES.append(study)


def leave(study) -> None:
    """``study`` is no longer active (called by ``Study.__exit__``; a no-op if it was not)."""
    if study in _ACTIVE_STUDIES:
        _ACTIVE_STUDIES.remove(study)


def active_study():
    """The innermost study whose ``with`` block is running, or None.

    Examples
    --------
    >>> active_study() is None
    True
    """
    return _ACTIVE_STUDIES[-1] if _ACTIVE_STUDIES else None


def active_run() -> _Scope | None:
    """The innermost active nested run of the active study (or the study itself), or None.

    Examples
    --------
    >>> active_run() is None
    True
    """
    study = active_study()
    return None if study is None else study.current


def resolve_study(study=None) -> _Scope | None:
    """Where a fit or an aggregation should log.

    ``None``: the innermost active run of the active study, if any; ``False``: nowhere;
    a :class:`Study`: its innermost active run (or the study); a :class:`Run`: that run.

    Examples
    --------
    >>> resolve_study(None) is None and resolve_study(False) is None
    True
    """
    if study is None:
        return active_run()
    if study is False:
        return None
    if isinstance(study, _Scope):
        return study.log_target
    raise TypeError(f"study must be a mixpref Study or Run, None or False, got {type(study).__name__}")


def log_to(
    study=None,
    params=None,
    metrics=None,
    step=None,
    tags=None,
    figures=None,
    tables=None,
    artifacts=None,
    model_dir=None,
):
    """Log to ``study`` (see :func:`resolve_study`); does nothing when there is no study.

    Never raises because of tracking, and never imports mlflow when there is no study.

    Parameters
    ----------
    study : Study, Run, None or False
        Target; None means the active study (if any), False means none.
    params, metrics, tags : dict, optional
        As in :meth:`Study.log_params`, :meth:`Study.log_metrics` (with ``step``),
        :meth:`Study.set_tags`.
    figures, tables : dict, optional
        ``name -> matplotlib figure`` / ``name -> DataFrame``.
    artifacts : list of path-like, optional
        Files or folders to log.
    model_dir : path-like, optional
        A saved model folder.

    Returns
    -------
    Study, Run or None
        Where it logged.

    Examples
    --------
    >>> log_to(None, metrics={"loss": 0.3}) is None  # no active study: nothing happens
    True
    """
    target = resolve_study(study)
    if target is None:
        return None
    if params:
        target.log_params(params)
    if metrics:
        target.log_metrics(metrics, step=step)
    if tags:
        target.set_tags(tags)
    for name, figure in (figures or {}).items():
        target.log_figure(figure, name)
    for name, table in (tables or {}).items():
        target.log_table(table, name)
    for path in artifacts or ():
        target.log_artifact(path)
    if model_dir is not None:
        target.log_model_dir(model_dir)
    return target

