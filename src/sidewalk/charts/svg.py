"""Charts as inline SVG strings, so that a report is one file that opens with no network and no
chart library: each function takes plain numbers and returns one accessible `<svg>` element."""

from collections.abc import Callable, Mapping, Sequence
from html import escape

from sidewalk.charts.svg_parts import (
    BOTTOM,
    DASHES,
    EMPTY,
    INK,
    LEFT,
    MUTED,
    PALETTE,
    PLOT_W,
    TOP,
    Frame,
    axes,
    axis_lines,
    finite,
    hline,
    legend,
    n,
    no_data,
    svg,
    text,
    value_range,
    y_axis_label,
)

Point = tuple[float, float]
RGB = tuple[int, int, int]
# Red through yellow to green, for shares where more is better.
SCALE: tuple[RGB, ...] = ((0xD7, 0x30, 0x27), (0xFE, 0xE0, 0x8B), (0x1A, 0x98, 0x50))
NO_VALUE = "\u2013"  # an en dash, for a cell with no number


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def line_chart(
    series: Mapping[str, Sequence[Point]],
    *,
    x_label: str,
    y_label: str,
    title: str,
    y_max: float | None = None,
    hlines: Sequence[tuple[float, str]] = (),
    x_names: Sequence[tuple[float, str]] = (),
) -> str:
    """Named lines over shared axes. `y_max` is the axis top unless the data rise above it;
    `hlines` are dashed reference lines (a value and its label); `x_names` label x positions
    (such as days) in place of numeric ticks."""
    clean = {k: sorted(p for p in pts if finite(*p)) for k, pts in series.items()}
    clean = {k: pts for k, pts in clean.items() if pts}
    if not clean:
        return no_data(title)
    refs = [(v, label) for v, label in hlines if finite(v)]
    xs = [x for pts in clean.values() for x, _ in pts]
    ys = [y for pts in clean.values() for _, y in pts] + [v for v, _ in refs]
    x0, x1 = (min(xs), max(xs)) if min(xs) < max(xs) else (xs[0] - 1, xs[0] + 1)
    keys, keys_h = legend(list(clean), TOP)
    f = Frame(x0, x1, *value_range(min(ys), max(ys), y_max), top=TOP + keys_h)
    body = keys + axes(f, x_label, y_label, x_names=x_names)
    for value, label in refs:
        dashed = ' stroke-width="1.5" stroke-dasharray="5 4"'
        body.append(hline(f.left, f.right, f.py(value), MUTED, dashed))
        halo = f' fill="{MUTED}" stroke="white" stroke-width="3" paint-order="stroke"'
        body.append(text(f.left + 4, f.py(value) - 4, label, anchor="start", extra=halo))
    for i, (name, pts) in enumerate(clean.items()):
        body.extend(_line(f, name, pts, PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]))
    return svg(title, f.bottom + BOTTOM, [*body, axis_lines(f)])


def _line(f: Frame, name: str, pts: Sequence[Point], colour: str, dash: str) -> list[str]:
    out: list[str] = []
    if len(pts) > 1:
        coords = " ".join(f"{n(f.px(x))},{n(f.py(y))}" for x, y in pts)
        out.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="{dash}" stroke-linejoin="round"/>'
        )
    if len(pts) <= 40:  # markers, each with its value on hover, while they do not crowd
        out.extend(
            f'<circle cx="{n(f.px(x))}" cy="{n(f.py(y))}" r="2.5" fill="{colour}">'
            f"<title>{escape(f'{name}: {x:g}, {y:.4g}')}</title></circle>"
            for x, y in pts
        )
    return out


def _bar(f: Frame, lo: float, hi: float, value: float, tip: str) -> str:
    y_top, y_base = f.py(max(value, 0.0)), f.py(min(value, 0.0))
    return (
        f'<rect x="{n(f.px(lo))}" y="{n(y_top)}" width="{n(f.px(hi) - f.px(lo))}" '
        f'height="{n(y_base - y_top)}" fill="{PALETTE[0]}" stroke="white">'
        f"<title>{escape(tip)}</title></rect>"
    )


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    x_label: str,
    y_label: str,
    title: str,
    y_max: float | None = None,
) -> str:
    """One bar per label; the labels thin out when there are too many to read."""
    if len(labels) != len(values):
        raise ValueError("bar_chart needs one value per label")
    pairs = [(lab, v) for lab, v in zip(labels, values, strict=True) if finite(v)]
    if not pairs:
        return no_data(title)
    vals = [v for _, v in pairs]
    f = Frame(0, len(pairs), *value_range(min(vals), max(vals), y_max), top=TOP)
    body = axes(f, x_label, y_label, x_ticks=False)
    every = max(1, -(-len(pairs) * 40 // int(f.width)))
    for i, (lab, v) in enumerate(pairs):
        body.append(_bar(f, i + 0.1, i + 0.9, v, f"{lab}: {v:,.4g}"))
        if i % every == 0:
            body.append(text(f.px(i + 0.5), f.bottom + 16, lab))
    return svg(title, f.bottom + BOTTOM, [*body, axis_lines(f)])


def histogram(
    values: Sequence[float], *, bins: int = 20, x_label: str, y_label: str = "count", title: str
) -> str:
    """How many values fall in each of `bins` equal ranges from the least to the most."""
    vals = [v for v in values if finite(v)]
    if not vals:
        return no_data(title)
    lo, hi = min(vals), max(vals)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    bins = max(1, bins)
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in vals:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    f = Frame(lo, hi, *value_range(0.0, max(counts)), top=TOP)
    body = axes(f, x_label, y_label)
    for i, c in enumerate(counts):
        a, b = lo + i * width, lo + (i + 1) * width
        if c:
            body.append(_bar(f, a, b, c, f"{a:.4g} to {b:.4g}: {c}"))
    return svg(title, f.bottom + BOTTOM, [*body, axis_lines(f)])


def heatmap(
    rows: Sequence[str | int],
    cols: Sequence[str | int],
    cells: Sequence[Sequence[float | None]],
    *,
    x_label: str,
    y_label: str,
    title: str,
    lo: float = 0.0,
    hi: float = 1.0,
    fmt: Callable[[float], str] = percent,
    highlight: tuple[int, int] | None = None,
) -> str:
    """`cells[row][col]` coloured from red (`lo`) through yellow to green (`hi`), each with its
    number; `None` marks a mix not run. `highlight` outlines one (row, col)."""
    if not rows or not cols:
        return no_data(title)
    cw, ch, top = PLOT_W / len(cols), 26.0, TOP + 4
    font = round(min(11.0, cw / 3.4), 1)
    body: list[str] = []
    for r, row in enumerate(rows):
        body.append(text(LEFT - 5, top + (r + 0.5) * ch + 4, str(row), anchor="end"))
        for c, col in enumerate(cols):
            v = cells[r][c] if r < len(cells) and c < len(cells[r]) else None
            s = fmt(v) if v is not None and finite(v) else NO_VALUE
            tip = f"{y_label} {row}, {x_label} {col}: {s}"
            box = (LEFT + c * cw, top + r * ch, cw, ch)
            body.append(_cell(box, _colours(v, lo, hi), s, tip, font))
    bottom = top + len(rows) * ch
    body.extend(text(LEFT + (c + 0.5) * cw, bottom + 15, str(col)) for c, col in enumerate(cols))
    body.append(text(LEFT + PLOT_W / 2, bottom + 32, x_label))
    body.append(y_axis_label(top + len(rows) * ch / 2, y_label))
    if highlight is not None and 0 <= highlight[0] < len(rows) and 0 <= highlight[1] < len(cols):
        x, y = LEFT + highlight[1] * cw + 1.5, top + highlight[0] * ch + 1.5
        body.append(
            f'<rect x="{n(x)}" y="{n(y)}" width="{n(cw - 3)}" height="{n(ch - 3)}" '
            f'fill="none" stroke="{INK}" stroke-width="3"/>'
        )
    body.extend(_scale_key(bottom + 44, lo, hi, fmt))
    return svg(title, bottom + 44 + 30, body)


def _colours(v: float | None, lo: float, hi: float) -> tuple[str, str]:
    """A cell's fill and the text colour that reads on it."""
    if v is None or not finite(v):
        return EMPTY, MUTED
    rgb = _scale((v - lo) / (hi - lo) if hi != lo else 1.0)
    return _hex(rgb), _ink_on(rgb)


def _cell(
    box: tuple[float, float, float, float], colours: tuple[str, str], s: str, tip: str, font: float
) -> str:
    (x, y, w, h), (fill, ink) = box, colours
    return (
        f'<rect x="{n(x)}" y="{n(y)}" width="{n(w)}" height="{n(h)}" fill="{fill}" '
        f'stroke="white"><title>{escape(tip)}</title></rect>'
        + text(x + w / 2, y + h / 2 + font * 0.35, s, extra=f' fill="{ink}" font-size="{font:g}"')
    )


def _scale(t: float) -> RGB:
    t = min(1.0, max(0.0, t)) * (len(SCALE) - 1)
    i = min(int(t), len(SCALE) - 2)
    a, b, u = SCALE[i], SCALE[i + 1], t - i
    r, g, bl = (round(a[k] + (b[k] - a[k]) * u) for k in range(3))
    return r, g, bl


def _hex(rgb: RGB) -> str:
    return f"#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}"


def _ink_on(rgb: RGB) -> str:
    """Dark or white text, whichever contrasts more with the fill (WCAG relative luminance)."""

    def lin(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    lum = 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])
    ink_lum = 0.0103  # the luminance of INK
    return INK if (lum + 0.05) / (ink_lum + 0.05) >= 1.05 / (lum + 0.05) else "#ffffff"


def _scale_key(y: float, lo: float, hi: float, fmt: Callable[[float], str]) -> list[str]:
    steps, w = 10, 16.0
    out = [text(LEFT - 5, y + 11, fmt(lo), anchor="end")]
    out.extend(
        f'<rect x="{n(LEFT + i * w)}" y="{n(y)}" width="{n(w)}" height="14" '
        f'fill="{_hex(_scale(i / (steps - 1)))}"/>'
        for i in range(steps)
    )
    out.append(text(LEFT + steps * w + 5, y + 11, fmt(hi), anchor="start"))
    return out
