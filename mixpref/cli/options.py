"""Options every command shares, declared once: data reading, label maps, progress.

Commands are plain functions (importable, callable from Python with plain values);
:func:`with_data_options` gives a command the data options on the command line and hands
them to it as one ``data_options`` dict, which :func:`load_data` understands.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import DataError

# label values a label map may produce (what PreferenceData.from_frame understands)
_LABEL_VALUES = {"a": "a", "b": "b", "tie": "tie", "1": 1, "0": 0, "0.5": 0.5}

# The data-column options, spelt the same on every command that reads data.
COLUMN_OPTIONS = {
    "prompt": typer.Option(None, "--prompt", help="Column of prompt ids/texts (default 'prompt'; 'none': no prompts, every comparison about the same items)."),
    "response_a": typer.Option(None, "--response-a", help="Column of the first response (default 'response_a')."),
    "response_b": typer.Option(None, "--response-b", help="Column of the second response (default 'response_b')."),
    "label": typer.Option(None, "--label", help="Column of labels a/b/tie, 1/0/0.5 or booleans (default 'label'); see --label-map."),
    "annotator": typer.Option(None, "--annotator", help="Column of annotator ids (default: none)."),
    "chosen": typer.Option(None, "--chosen", help="TRL pairs: column of the chosen response."),
    "rejected": typer.Option(None, "--rejected", help="TRL pairs: column of the rejected response."),
    "ranking": typer.Option(None, "--ranking", help="Rankings: column of lists of responses, best first."),
}
DATA_OPTIONS = {
    **COLUMN_OPTIONS,
    "label_map": typer.Option(
        None, "--label-map",
        help="Your labels -> a/b/tie: 'model_a=a,model_b=b,tie=tie' or '1=a,-1=b,0=tie' (repeatable). Unknown labels are an error.",
    ),
    "responses": typer.Option(
        None, "--responses",
        help="What the response columns hold: 'text' (default), 'ids', or a table FILE (response_id, text[, prompt_id]) giving the texts of the ids.",
    ),
}
_ANNOTATIONS = {"label_map": Optional[List[str]]}


def parse_label_map(value) -> dict | None:
    """``"model_a=a,model_b=b,tie=tie"`` (or a list of such strings, or a dict) -> ``{label: a/b/tie/1/0/0.5}``.

    Examples
    --------
    >>> parse_label_map("model_a=a,model_b=b,tie=tie")
    {'model_a': 'a', 'model_b': 'b', 'tie': 'tie'}
    >>> parse_label_map(["1=a,-1=b", "0=tie"])
    {'1': 'a', '-1': 'b', '0': 'tie'}
    """
    if value is None or isinstance(value, dict):
        return value
    items = [value] if isinstance(value, str) else list(value)
    out = {}
    for item in items:
        for pair in (p.strip() for p in str(item).split(",")):
            if not pair:
                continue
            key, sep, target = pair.rpartition("=")
            key, target = key.strip(), target.strip()
            if not sep or not key:
                raise DataError(f"--label-map: got {pair!r}; expected YOUR_LABEL=a|b|tie, e.g. model_a=a,model_b=b,tie=tie")
            if target.lower() not in _LABEL_VALUES:
                raise DataError(f"--label-map: {key!r} maps to {target!r}; expected a, b, tie (or 1, 0, 0.5)")
            out[key] = _LABEL_VALUES[target.lower()]
    return out or None


def read_options(options: dict | None, item_level: bool = False) -> dict:
    """The keyword arguments of :func:`mixpref.read` for the CLI's data options.

    ``prompt='none'`` (or item-level data without ``--prompt``) puts every comparison under
    one prompt; ``responses`` 'text' is the default, 'ids' or a table file read here.
    """
    from ..data.readers import read_table

    given = {k: v for k, v in (options or {}).items() if v is not None}
    out = dict(given)
    if "label_map" in given:
        out["label_map"] = parse_label_map(given["label_map"])
    prompt = given.get("prompt")
    if (isinstance(prompt, str) and prompt.lower() == "none") or (item_level and "prompt" not in given):
        out["prompt"] = None
    responses = given.get("responses")
    if isinstance(responses, (str, Path)):
        if str(responses).lower() == "text":
            out.pop("responses")
        elif str(responses).lower() != "ids":
            out["responses"] = read_table(responses)
    return out


def _for_format(fmt: str, kwargs: dict) -> dict:
    allowed = {
        "pairs": {"prompt", "chosen", "rejected", "annotator"},
        "rankings": {"prompt", "ranking", "annotator", "responses"},
    }.get(fmt)
    if allowed is None:
        return {k: v for k, v in kwargs.items() if k not in ("chosen", "rejected", "ranking")}
    if "label_map" in kwargs:
        raise DataError(f"--label-map: the data is in {fmt} format, which has no label column; "
                        "expected long-format data (response_a, response_b, label)")
    return {k: v for k, v in kwargs.items() if k in allowed}


def load_data(path: str, options: dict | None = None, item_level: bool = False):
    """A bundled dataset name (``ukpconvarg1``) or a file path -> PreferenceData.

    ``options`` are the CLI's data options (strings, as typed; see :func:`read_options`).

    Examples
    --------
    >>> data = load_data("prefs.csv", {"label_map": "model_a=a,model_b=b,tie=tie"})  # doctest: +SKIP
    """
    import mixpref as mp

    if str(path) in mp.datasets.list():
        return mp.datasets.load(str(path))
    kwargs = read_options(options, item_level=item_level)
    given = options or {}
    fmt = ("pairs" if given.get("chosen") or given.get("rejected")
           else "rankings" if given.get("ranking") else "auto")
    if fmt == "auto" and "label_map" in kwargs:
        fmt = "frame"
    return mp.read(path, format=fmt, **_for_format(fmt, kwargs))


def _rewrite(command, param: str, added: dict, annotations: dict, collect):
    """Replace ``command``'s parameter ``param`` by the options ``added`` (name -> OptionInfo).

    Typer reads the wrapper's signature; the wrapper gathers the added options with
    ``collect(given) -> value`` and passes the result as ``param``.
    """
    # typer reads the annotations from __signature__ as they are: resolve the string
    # annotations of `from __future__ import annotations` (keeping Annotated's metadata)
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != param]
    new = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info,
                             annotation=annotations.get(name, Optional[str]))
           for name, info in added.items()]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        given = {name: kwargs.pop(name, None) for name in added}
        return command(*args, **{param: collect(given)}, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=kept + new)
    return wrapper


def with_data_options(command):
    """Give ``command`` the data options; it receives those the user set as ``data_options``."""
    return _rewrite(command, "data_options", DATA_OPTIONS, _ANNOTATIONS,
                    lambda given: {k: v for k, v in given.items() if v not in (None, [])})


def with_inference_options(command, skip=("device", "random_state", "progress", "n_restarts", "inference")):
    """Give ``command`` one option per model inference option (from the model's constructor).

    The options come from :func:`mixpref.models.options.inference_options`, so a new
    inference option reaches the CLI without an edit here; the command receives those the
    user changed as ``inference_options``.
    """
    from ..models.options import inference_options

    added, annotations, defaults = {}, {}, {}
    for opt in inference_options():
        if opt.name in skip:
            continue
        flag = "--" + opt.name.replace("_", "-")
        default = opt.default
        help_text = (opt.help or "").split(". ")[0].rstrip(".") + ("." if default is None else f" (default {default}).")
        if isinstance(default, bool):
            added[opt.name] = typer.Option(default, f"{flag}/--no-{opt.name.replace('_', '-')}", help=help_text)
            annotations[opt.name] = bool
        else:
            added[opt.name] = typer.Option(None, flag, help=help_text)
            annotations[opt.name] = Optional[type(default)] if isinstance(default, (int, float)) else Optional[str]
        defaults[opt.name] = default

    def collect(given):
        out = {}
        for name, value in given.items():
            if value is None or value == defaults[name]:
                continue
            out[name] = _option_value(value) if isinstance(value, str) else value
        return out

    return _rewrite(command, "inference_options", added, annotations, collect)


def _option_value(text: str):
    """A typed option value: 'none' -> None, numbers -> int/float, else the string."""
    if text.lower() == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


@contextlib.contextmanager
def progress_bars(enabled: bool):
    """``enabled=False`` silences every progress bar, restored afterwards.

    Every bar of tqdm, including those of transformers (model loading) and huggingface_hub,
    which subclass it, is created disabled. tqdm reads ``TQDM_DISABLE`` only when it is
    first imported, so the environment variable (set too, for child processes) is not
    enough: for the duration, ``tqdm.__init__`` forces ``disable=True``. transformers' and
    huggingface_hub's own switches are flipped as well when those are already imported
    (importing transformers just to silence it would cost seconds).
    """
    if enabled:
        yield
        return
    from tqdm import std

    saved = {name: os.environ.get(name) for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    os.environ.update({name: "1" for name in saved})
    original_init = std.tqdm.__init__

    @functools.wraps(original_init)
    def quiet_init(self, *args, **kwargs):
        kwargs["disable"] = True
        original_init(self, *args, **kwargs)

    std.tqdm.__init__ = quiet_init
    restore = [lambda: setattr(std.tqdm, "__init__", original_init)]
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        if hf_logging.is_progress_bar_enabled():
            hf_logging.disable_progress_bar()
            restore.append(hf_logging.enable_progress_bar)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

        if not are_progress_bars_disabled():
            disable_progress_bars()
            restore.append(enable_progress_bars)
    try:
        yield
    finally:
        for undo in restore:
            undo()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def data_name(path) -> str:
    """A short name of the data for run names: the file name, or the bundled dataset's name."""
    return Path(str(path)).name
