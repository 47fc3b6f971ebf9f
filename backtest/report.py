"""One self-contained HTML page from headed sections: plotly figures and HTML fragments.

The page inlines plotly.js once (~4.8 MB) instead of linking a CDN: the VPS that reads the report
may be offline. plotly is imported only when a page is written. ``write_report`` is generic (the
sweep's heatmap uses it); backtest/report_page.py lays out one backtest.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.files import write_atomically

log = logging.getLogger(__name__)

Section = tuple[str, Any]
"""(heading, content): content is a plotly Figure or an HTML fragment string."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: .6rem auto 2rem; max-width: 1240px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.25rem; margin: .2rem 0; } h2 { font-size: 1.1rem; margin-top: 1.6rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; font-size: .88rem; }
th, td { padding: .22rem .6rem; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
.note { color: #666; font-size: .85rem; }
"""


def write_report(
    path: str | os.PathLike[str], title: str, sections: Sequence[Section], *,
    lead: str = "", style: str = "", script: str = "",
) -> Path:
    """Write a self-contained HTML page (plotly.js inlined, no CDN) atomically; return its path."""
    page = render_report(title, sections, lead=lead, style=style, script=script)
    target = write_atomically(Path(path), lambda fh: fh.write(page), binary=False)
    log.info("report written to %s (%d bytes)", target, len(page))
    return target


def render_report(
    title: str, sections: Sequence[Section], *, lead: str = "", style: str = "",
    script: str = "",
) -> str:
    """The page: ``lead`` under the title, a heading per section, then ``script``.

    Figures are drawn by the one inlined plotly.js; a section with an empty heading has none.
    """
    body: list[str] = []
    has_figure = False
    for number, (heading, content) in enumerate(sections):
        if heading:
            body.append(f'<h2 id="section-{number}">{html.escape(heading)}</h2>')
        if isinstance(content, str):
            body.append(content)
        else:
            has_figure = True
            body.append(_figure_div(content, number))
    library = f"<script>{_plotly_js()}</script>" if has_figure else ""
    tail = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}{style}</style>{library}</head>"
        f"<body><h1>{html.escape(title)}</h1>\n{lead}" + "\n".join(body) + f"\n{tail}"
        "</body></html>\n"
    )


def html_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """A small HTML table; cells are escaped unless they are already ``Markup``."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    lines = ["<table><thead><tr>", head, "</tr></thead><tbody>"]
    for row in rows:
        cells = "".join(f"<td>{_cell(c)}</td>" for c in row)
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


class Markup(str):
    """A string already safe as HTML (not escaped again by ``html_table``)."""

    __slots__ = ()


def _cell(value: object) -> str:
    return value if isinstance(value, Markup) else html.escape(str(value))


def _figure_div(figure: Any, number: int) -> str:
    # include_plotlyjs=False: the library is inlined once in <head> for all figures.
    return str(
        figure.to_html(
            full_html=False, include_plotlyjs=False, div_id=f"figure-{number}",
            # A short toolbar: the long default one covers the end of a legend.
            config={"displaylogo": False, "responsive": True,
                    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]},
        )
    )


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    # "</script" inside the bundle would end the tag early; the minified bundle has none, but
    # escaping it costs nothing and keeps the page valid whatever plotly version is installed.
    return str(get_plotlyjs()).replace("</script", "<\\/script")


# Points per line: a year of minute bars (525,600) as one line makes a ~30 MB page that a
# browser draws slowly; lines are thinned to this, trade markers never are.
MAX_LINE_POINTS = 20_000


def thin(series: pd.Series, how: str = "last", max_points: int = MAX_LINE_POINTS) -> pd.Series:
    """At most ``max_points`` points: each bucket of bars gives its ``how`` (last / min / max)."""
    n = len(series)
    if n <= max_points:
        return series
    step = -(-n // max_points)
    buckets = np.arange(n) // step
    values = series.groupby(buckets).agg(how).to_numpy()
    ends = np.minimum((np.arange(len(values)) + 1) * step - 1, n - 1)
    return pd.Series(values, index=series.index[ends], name=series.name)
