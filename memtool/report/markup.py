"""HTML pieces the report's pages share: escaped cells that carry exact values, tables,
confidence intervals, figures."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from html import escape
from typing import Iterable, Sequence


@dataclass
class FigureRef:
    """A figure written next to the page: ``figures/<stem>.png`` and ``.svg``."""

    stem: str
    title: str
    caption: str


# -- cells ------------------------------------------------------------------------------
def text(value) -> str:
    """Escaped display text for any database value."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return escape(str(value))


def prose(message: str) -> str:
    """Escape a sentence and show its `backticked` commands as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(message))


def cell(col: str, value, *, cls: str = "") -> str:
    """A ``<td>`` carrying the column name and, for numbers, the exact value."""
    klass = f' class="{cls}"' if cls else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f'<td data-col="{escape(col)}"{klass}>{text(value)}</td>'
    exact = repr(float(value)) if isinstance(value, float) else str(value)
    return (
        f'<td data-col="{escape(col)}" data-value="{exact}" class="num{" " + cls if cls else ""}">'
        f"{text(value) if isinstance(value, float) else value}</td>"
    )


def table(table_id: str, headers: Sequence[str], rows: Iterable[str], *, attrs: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return (
        f'<table id="{escape(table_id)}"{attrs}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


def ci(lo, hi) -> str:
    if lo is None or hi is None or any(math.isnan(v) for v in (lo, hi)):
        return ""
    return f" [{lo:.3f}, {hi:.3f}]"


def figure_html(ref: FigureRef) -> str:
    stem = escape(ref.stem)
    return (
        f'<figure id="fig-{stem}"><a href="figures/{stem}.svg">'
        f'<img src="figures/{stem}.png" alt="{escape(ref.title)}"></a>'
        f"<figcaption><b>{escape(ref.title)}.</b> {escape(ref.caption)} "
        f'(<a href="figures/{stem}.svg">SVG</a>)</figcaption></figure>'
    )
