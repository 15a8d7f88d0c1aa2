"""Where a study logs: tracking URIs, fail-fast probes of the store, and safe names.

Nothing here imports mlflow: resolving a URI and probing a sqlite file or a server is
plain Python, so a study that cannot log finds out in milliseconds instead of after
mlflow's own minutes of retries.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

RUNS_FOLDER = "mixpref-runs"
DB_NAME = "mlflow.db"
# overrides the default tracking URI (not an explicit tracking_uri=)
TRACKING_URI_ENV = "MIXPREF_TRACKING_URI"
# how long the start-up probe waits for a locked sqlite database
SQLITE_PROBE_TIMEOUT = 5.0
# how long the start-up probe waits for an http(s) tracking server
HTTP_PROBE_TIMEOUT = 5.0


def default_tracking_uri(root=None) -> str:
    """The project's mlflow database: ``sqlite:///<root>/mixpref-runs/mlflow.db``.

    Parameters
    ----------
    root : path-like, optional
        Project folder; the current working directory by default.

    Examples
    --------
    >>> default_tracking_uri("/tmp/project")
    'sqlite:////tmp/project/mixpref-runs/mlflow.db'
    """
    root = Path.cwd() if root is None else Path(root)
    return _sqlite_uri(root.absolute() / RUNS_FOLDER / DB_NAME)


def _sqlite_uri(path: Path) -> str:
    # sqlite:/// + an absolute POSIX path gives the four slashes of sqlite:////tmp/x.db
    return "sqlite:///" + Path(path).absolute().as_posix()


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (absolute), or None for other URIs.

    Examples
    --------
    >>> sqlite_path("sqlite:////tmp/x/mlflow.db")
    PosixPath('/tmp/x/mlflow.db')
    >>> sqlite_path("http://localhost:5000") is None
    True
    """
    if not isinstance(uri, str) or not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path).absolute()


def resolve_tracking_uri(tracking_uri=None) -> str:
    """The explicit mlflow URI a study uses for ``tracking_uri``.

    None means ``$MIXPREF_TRACKING_URI`` when set (tests and CI point it at a scratch
    database), else the project's database in the working directory. A path without a
    scheme is a sqlite file (``*.db``) or a folder holding ``mlflow.db``, and so is a
    ``file:`` URI (mlflow's old file store, which mlflow >= 3.13 refuses); relative sqlite
    paths are made absolute.

    Examples
    --------
    >>> resolve_tracking_uri("/tmp/runs")
    'sqlite:////tmp/runs/mlflow.db'
    >>> resolve_tracking_uri("file:///tmp/runs")
    'sqlite:////tmp/runs/mlflow.db'
    """
    if tracking_uri is None:
        tracking_uri = os.environ.get(TRACKING_URI_ENV) or None
    if tracking_uri is None:
        return default_tracking_uri()
    if not isinstance(tracking_uri, os.PathLike) and str(tracking_uri).startswith("file:"):
        # mlflow's old file store (file:/dir, file:///dir) raises in mlflow >= 3.13: the same
        # folder gets a sqlite database instead (never a folder literally named "file:")
        from urllib.parse import urlparse
        from urllib.request import url2pathname

        tracking_uri = Path(url2pathname(urlparse(str(tracking_uri)).path))
    if isinstance(tracking_uri, os.PathLike) or "://" not in str(tracking_uri):
        path = Path(tracking_uri)
        if path.suffix not in (".db", ".sqlite", ".sqlite3"):
            path = path / DB_NAME
        return _sqlite_uri(path)
    path = sqlite_path(tracking_uri)
    if path is not None:  # relative sqlite paths are made absolute so a later chdir is harmless
        query = tracking_uri.split("?", 1)[1] if "?" in tracking_uri else ""
        return _sqlite_uri(path) + (f"?{query}" if query else "")
    return str(tracking_uri)


def probe_sqlite(path: Path) -> None:
    """Fail fast when the database cannot be created or written.

    mlflow retries a failing engine for about 100 s (``create_sqlalchemy_engine_with_retry``);
    a direct sqlite write-lock attempt answers in milliseconds (or after the lock timeout).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=SQLITE_PROBE_TIMEOUT)
    try:
        conn.execute("PRAGMA schema_version")  # reads the header: "file is not a database"
        conn.execute("BEGIN IMMEDIATE")
        conn.rollback()
    finally:
        conn.close()


def probe_http(uri: str) -> None:
    """Fail fast when a tracking server does not answer.

    mlflow retries an unreachable server with exponential backoff for minutes; any HTTP
    answer (even 401/404) means the server is there and mlflow can take over.
    """
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=HTTP_PROBE_TIMEOUT).close()
    except urllib.error.HTTPError:
        pass


def probe(uri: str) -> None:
    """Probe the store behind ``uri`` (sqlite file or http(s) server); other schemes pass."""
    db = sqlite_path(uri)
    if db is not None:
        probe_sqlite(db)
    elif uri.startswith(("http://", "https://")):
        probe_http(uri)


def safe_name(name) -> str:
    """A file/folder name for a study or run name (keeps it readable).

    Examples
    --------
    >>> safe_name("k=3 / seed?1")
    'k=3 _ seed_1'
    """
    cleaned = re.sub(r"[^\w.\-=+,@ ]+", "_", str(name)).strip(" .")
    return cleaned or "run"


def safe_key(key) -> str:
    """An mlflow param/metric key: only alphanumerics, ``_ - . / : space`` are accepted.

    Examples
    --------
    >>> safe_key("acc@1, top")
    'acc_1_ top'
    """
    return re.sub(r"[^\w.\- /:]", "_", str(key))
