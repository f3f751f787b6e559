"""The HTML building blocks the reports share: the page shell with its inline style, KPI tiles,
tables and number formats. Every piece escapes its own text, so callers pass plain strings."""

from collections.abc import Iterable, Sequence
from datetime import date
from html import escape

DASH = "\u2013"  # shown for a figure that does not exist (no deliveries, no runs)

# A page that may fetch nothing: the policy makes any stray reference fail loudly offline too.
POLICY = "default-src 'none'; style-src 'unsafe-inline'"

CSS = """
:root { color-scheme: light; --ink: #1a1a1a; --muted: #555; --line: #d9d9d9; --accent: #0b5394; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--ink); background: #fafafa; }
main, footer { max-width: 64rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: 0.5rem 0 0.25rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 0.5rem; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 1rem; }
.tiles { display: grid; gap: 0.5rem;
  grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr)); }
.tile, figure { background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.tile { padding: 0.5rem 0.75rem; }
.tile .label { color: var(--muted); font-size: 0.8rem; }
.tile .value { font-size: 1.35rem; font-weight: 600; white-space: nowrap; }
.tile .note { color: var(--muted); font-size: 0.8rem; }
.charts { display: grid; gap: 1rem;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 22rem), 1fr)); }
figure { margin: 0; padding: 0.5rem; }
figure svg { display: block; height: auto; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; background: #fff; font-size: 0.9rem; min-width: 16rem; }
th, td { padding: 0.3rem 0.6rem; border-bottom: 1px solid var(--line); text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #fff3c4; font-weight: 600; }
.verdict { padding: 0.75rem 1rem; border-radius: 6px; border-left: 6px solid; background: #fff; }
.verdict.met { border-color: #1a7f3c; }
.verdict.missed { border-color: #b3261e; }
footer { color: var(--muted); font-size: 0.85rem; border-top: 1px solid var(--line); }
.errors { color: #b3261e; }
"""


def page(title: str, parts: Iterable[str], footer: str = "") -> str:
    """A complete HTML5 document around `parts` (already HTML)."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *parts,
            "</main>",
            footer,
            "</body>",
            "</html>",
        ]
    )


def header(title: str, subtitle: str) -> str:
    return f'<h1>{escape(title)}</h1>\n<p class="sub">{escape(subtitle)}</p>'


def section(heading: str, *parts: str) -> str:
    return f"<section>\n<h2>{escape(heading)}</h2>\n" + "\n".join(parts) + "\n</section>"


def charts(*svgs: str) -> str:
    """Charts side by side where the screen is wide, one under another on a phone."""
    return '<div class="charts">' + "".join(f"<figure>{s}</figure>" for s in svgs) + "</div>"


def tiles(items: Iterable[tuple[str, str, str]]) -> str:
    """KPI tiles from (label, value, note) triples."""
    out = [
        f'<div class="tile"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div><div class="note">{escape(note)}</div></div>'
        for label, value, note in items
    ]
    return '<div class="tiles">' + "".join(out) + "</div>"


def table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Iterable[int] = (),
    row_class: Sequence[str] = (),
) -> str:
    """A table of plain text; `numeric` columns align right, `row_class[i]` marks row i."""
    right = set(numeric)

    def cls(i: int) -> str:
        return ' class="num"' if i in right else ""

    ths = "".join(f'<th scope="col"{cls(i)}>{escape(h)}</th>' for i, h in enumerate(head))
    trs = []
    for r, row in enumerate(rows):
        mark = f' class="{escape(row_class[r])}"' if r < len(row_class) and row_class[r] else ""
        tds = "".join(f"<td{cls(i)}>{escape(v)}</td>" for i, v in enumerate(row))
        trs.append(f"<tr{mark}>{tds}</tr>")
    if not rows:
        trs.append(f'<tr><td colspan="{len(head)}">none</td></tr>')
    return (
        f'<div class="scroll"><table>\n<thead><tr>{ths}</tr></thead>\n<tbody>\n'
        + "\n".join(trs)
        + "\n</tbody></table></div>"
    )


def pct(share: float | None) -> str:
    return DASH if share is None else f"{share * 100:.1f} %"


def count(k: int) -> str:
    return f"{k:,}"


def minutes(m: float | None) -> str:
    return DASH if m is None else f"{m:.1f} min"


def value(v: object) -> str:
    """A parameter as a person reads it."""
    if isinstance(v, date):  # a datetime too
        return v.isoformat()
    if isinstance(v, tuple | list):
        return ", ".join(value(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
