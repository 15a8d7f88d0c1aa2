"""mlflow studies: one parent run per study, nested runs per configuration or seed.

A :class:`Study` writes every output to a local folder first (``mixpref-runs/<name>/`` by
default) and then logs it to mlflow. Tracking is a convenience, never a dependency of the
computation: if mlflow cannot be imported, the database is locked or unwritable, the disk
is full or the URI is wrong, the computation goes on, the local files are still written,
and one :class:`MixprefTrackingWarning` per kind of failure says what was not logged.

mlflow is imported only when a study is entered, so ``import mixpref`` (and every stage
used without a study) never imports it.

Computation never imports this package: fits and aggregations emit events
(:mod:`mixpref.events`) and the observer installed by a :class:`Study` (or by
:func:`autolog`) logs them to ``study=``: None means "the active study, if any"
(:func:`active_study`), False means "do not log".

The package, by seam:

- :mod:`~mixpref.tracking.uris`: tracking URIs, fail-fast probes, safe names and keys;
- :mod:`~mixpref.tracking.values`, :mod:`~mixpref.tracking.scope`: what is logged, the
  ``log_*`` methods, local copies and metric buffering;
- :mod:`~mixpref.tracking.run`, :mod:`~mixpref.tracking.study`: nested runs and the study;
- :mod:`~mixpref.tracking.failures`: the warning and how failures are reported;
- :mod:`~mixpref.tracking.registry`: the active study and :func:`log_to`;
- :mod:`~mixpref.tracking.observer`: :func:`autolog`, :func:`disable_autolog`.
"""

from .failures import MixprefTrackingWarning
from .observer import autolog, disable_autolog
from .registry import active_run, active_study, log_to, resolve_study
from .run import Run
from .study import Study
from .uris import default_tracking_uri, resolve_tracking_uri, sqlite_path

__all__ = [
    "MixprefTrackingWarning",
    "Run",
    "Study",
    "active_run",
    "active_study",
    "autolog",
    "default_tracking_uri",
    "disable_autolog",
    "log_to",
    "resolve_study",
    "resolve_tracking_uri",
    "sqlite_path",
]
