"""Markdown reports with tables and PNG plots, written atomically and logged to a study."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_path


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".4g", index: bool = False) -> str:
    """A DataFrame as a GitHub markdown table (no extra dependency such as tabulate).

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"k": [1, 2], "ll": [-0.61234, -0.6]})))
    | k | ll |
    |---|---|
    | 1 | -0.6123 |
    | 2 | -0.6 |
    """
    if index:
        frame = frame.reset_index()

    def cell(value):
        if isinstance(value, (float, np.floating)):
            return "" if math.isnan(value) else format(float(value), floatfmt)
        if isinstance(value, (list, tuple, np.ndarray)):
            return ", ".join(cell(v) for v in value)
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


class Report:
    """A markdown report in ``out_dir/report.md`` with its PNGs and CSV tables beside it.

    Every figure and table is written to disk first and then logged to ``study`` (a
    :class:`mixpref.Study` scope or None), so a tracking failure never loses a result.

    Examples
    --------
    >>> import tempfile
    >>> r = Report(tempfile.mkdtemp(), "Demo")
    >>> r.text("Hello.")
    >>> r.write().name
    'report.md'
    """

    def __init__(self, out_dir, title: str, study=None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.study = study
        self.parts = [f"# {title}\n"]
        # the figures by name (closed, but still readable), so tests can check axes and legends
        self.figures = {}

    def text(self, markdown: str) -> None:
        self.parts.append(markdown.strip() + "\n")

    def table(self, frame: pd.DataFrame, name: str, caption: str | None = None, floatfmt: str = ".4g") -> Path:
        path = self.out_dir / f"{name}.csv"
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        if caption:
            self.parts.append(f"**{caption}** (`{path.name}`)\n")
        self.parts.append(markdown_table(frame, floatfmt) + "\n")
        self._log(path)
        return path

    def figure(self, fig, name: str, caption: str | None = None, dpi: int = 120) -> Path:
        import matplotlib.pyplot as plt

        path = self.out_dir / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        self.figures[name] = fig
        self.parts.append(f"![{caption or name}]({path.name})\n")
        if caption:
            self.parts.append(f"*{caption}*\n")
        self._log(path)
        return path

    def write(self) -> Path:
        path = self.out_dir / "report.md"
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(self.parts))
        self._log(path)
        return path

    def _log(self, path: Path) -> None:
        if self.study is not None:
            self.study.log_artifact(path)


def grouped_bars(table: pd.DataFrame, columns, ylabel: str, labels=None, width=9.0, height=4.0, reference=0.5,
                 title=None, reference_label="uniformly random (0.5)"):
    """A figure of one group of bars per row of ``table`` (x labels from its index), one bar per column.

    Bars start at zero; ``reference`` draws a labelled dashed line (None: none); the legend
    names every series.

    Examples
    --------
    >>> fig = grouped_bars(pd.DataFrame({"type0": [0.7, 0.6]}, index=["borda", "maxmin"]), ["type0"], "win rate")
    >>> float(fig.axes[0].get_ylim()[0])
    0.0
    """
    fig, ax = new_figure(width, height)
    columns = list(columns)
    x = np.arange(len(table))
    bar = 0.8 / max(len(columns), 1)
    for i, col in enumerate(columns):
        ax.bar(x + i * bar, table[col], bar, label=(labels or columns)[i])
    if reference is not None:
        ax.axhline(reference, color="grey", lw=0.8, ls="--", label=reference_label)
    ax.set_ylim(bottom=0)
    ax.set_xticks(x + 0.4 - bar / 2, [str(v) for v in table.index], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def new_figure(width=6.0, height=4.0, nrows=1, ncols=1):
    """``(figure, axes)`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(width, height))
