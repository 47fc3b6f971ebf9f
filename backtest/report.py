"""One self-contained HTML page from headed sections: plotly figures and HTML fragments.

The page inlines plotly.js once (~4.8 MB) instead of linking a CDN: the VPS that reads the report
may be offline. plotly is imported only when a page is written.
"""

from __future__ import annotations

import html
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Section = tuple[str, Any]
"""(heading, content): content is a plotly Figure or an HTML fragment string."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
.note { color: #666; font-size: .85rem; }
"""


def write_report(path: str | os.PathLike[str], title: str, sections: Sequence[Section]) -> Path:
    """Write a self-contained HTML page (plotly.js inlined, no CDN) atomically; return its path."""
    page = render_report(title, sections)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("report written to %s (%d bytes)", target, len(page))
    return target


def render_report(title: str, sections: Sequence[Section]) -> str:
    """The page as a string: a heading per section, figures drawn by the one inlined plotly.js."""
    body: list[str] = []
    has_figure = False
    for number, (heading, content) in enumerate(sections):
        body.append(f'<h2 id="section-{number}">{html.escape(heading)}</h2>')
        if isinstance(content, str):
            body.append(content)
        else:
            has_figure = True
            body.append(_figure_div(content, number))
    script = f"<script>{_plotly_js()}</script>" if has_figure else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>{script}</head>"
        f"<body><h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
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
            config={"displaylogo": False, "responsive": True},
        )
    )


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    # "</script" inside the bundle would end the tag early; the minified bundle has none, but
    # escaping it costs nothing and keeps the page valid whatever plotly version is installed.
    return str(get_plotlyjs()).replace("</script", "<\\/script")
