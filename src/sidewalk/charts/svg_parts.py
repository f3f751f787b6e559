"""The pieces the charts in `svg` share: the `<svg>` shell, text, round ticks, a plot frame with
its axes and a legend. Plain strings, escaped here, so no chart can forget to."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# A narrow canvas scaled to 100 % of its box: the text stays legible on a phone.
WIDTH = 400
LEFT, RIGHT, TOP, BOTTOM = 52, 18, 34, 46
PLOT_W = WIDTH - LEFT - RIGHT
LEGEND_ROW = 16
INK, MUTED, GRID, EMPTY = "#1a1a1a", "#555555", "#d9d9d9", "#eeeeee"
# Each at least 4.5 : 1 on white; the dash patterns tell the lines apart without colour.
PALETTE = ("#0b5394", "#b03a00", "#00704a", "#8e3b73", "#6b5900", "#3d3d3d")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 4", "1 2")


def n(v: float) -> str:
    return f"{v:.1f}"


def text(x: float, y: float, s: str, *, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{n(x)}" y="{n(y)}" text-anchor="{anchor}"{extra}>{escape(s)}</text>'


def hline(x1: float, x2: float, y: float, stroke: str, extra: str = "") -> str:
    return f'<line x1="{n(x1)}" x2="{n(x2)}" y1="{n(y)}" y2="{n(y)}" stroke="{stroke}"{extra}/>'


def y_axis_label(mid: float, s: str) -> str:
    return text(14, mid, s, extra=f' transform="rotate(-90 14 {n(mid)})"')


def svg(title: str, height: float, body: Sequence[str]) -> str:
    """An `<svg>` to place inline in an HTML page, whose parser gives it the SVG namespace:
    without an `xmlns` the page holds no URL at all."""
    t = escape(title)
    return (
        f'<svg viewBox="0 0 {WIDTH} {n(height)}" '
        f'width="100%" role="img" aria-label="{t}" font-family="system-ui, sans-serif" '
        f'font-size="11" fill="{INK}"><title>{t}</title>'
        + text(WIDTH / 2, 18, title, extra=' font-size="13" font-weight="600"')
        + "".join(body)
        + "</svg>"
    )


def no_data(title: str) -> str:
    return svg(title, 90, [text(WIDTH / 2, 60, "no data", extra=f' fill="{MUTED}"')])


def finite(*vs: float) -> bool:
    return all(math.isfinite(v) for v in vs)


def _step(span: float, count: int) -> float:
    raw = span / count if span > 0 else 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))


def ticks(lo: float, hi: float, count: int = 5) -> tuple[list[float], int]:
    """Round ticks within [lo, hi], and the decimals that show them."""
    step = _step(hi - lo, count)
    first = math.ceil(lo / step - 1e-9) * step
    k = math.floor((hi - first) / step + 1e-9)
    return [first + i * step for i in range(k + 1)], max(0, -math.floor(math.log10(step)))


def value_range(lo: float, hi: float, top: float | None = None) -> tuple[float, float]:
    """A round axis range from zero (or below, for negative data) to `hi`; `top` ends it
    when the data fit under it."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi <= lo:
        hi = lo + 1.0
    step = _step(hi - lo, 5)
    end = top if top is not None and top >= hi else math.ceil(hi / step - 1e-9) * step
    return math.floor(lo / step + 1e-9) * step, end


@dataclass(frozen=True)
class Frame:
    """Data ranges mapped onto the plot area's pixels."""

    x0: float
    x1: float
    y0: float
    y1: float
    top: float
    height: float = 200.0
    left: float = LEFT
    width: float = PLOT_W

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.width

    def py(self, y: float) -> float:
        return self.top + self.height - (y - self.y0) / (self.y1 - self.y0) * self.height

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def right(self) -> float:
        return self.left + self.width


def axes(
    f: Frame,
    x_label: str,
    y_label: str,
    *,
    x_ticks: bool = True,
    x_names: Sequence[tuple[float, str]] = (),
) -> list[str]:
    """Grid lines, ticks and axis labels, drawn under the data (see `axis_lines`). `x_names`
    label chosen x positions (days, months) instead of round numbers, thinned to fit."""
    out: list[str] = []
    ys, y_dec = ticks(f.y0, f.y1)
    for y in ys:
        out.append(hline(f.left, f.right, f.py(y), GRID))
        out.append(text(f.left - 5, f.py(y) + 4, f"{y:,.{y_dec}f}", anchor="end"))
    if x_names:
        widest = max(len(name) for _, name in x_names) * 6.5 + 8
        every = max(1, math.ceil(len(x_names) * widest / f.width))
        out.extend(_x_tick(f, x, name) for x, name in x_names[::every])
    elif x_ticks:
        xs, x_dec = ticks(f.x0, f.x1)
        out.extend(_x_tick(f, x, f"{x:,.{x_dec}f}") for x in xs)
    out.append(text(f.left + f.width / 2, f.bottom + 36, x_label))
    out.append(y_axis_label(f.top + f.height / 2, y_label))
    return out


def _x_tick(f: Frame, x: float, name: str) -> str:
    px = f.px(x)
    return (
        f'<line x1="{n(px)}" x2="{n(px)}" y1="{n(f.bottom)}" y2="{n(f.bottom + 4)}" '
        f'stroke="{INK}"/>' + text(px, f.bottom + 16, name)
    )


def axis_lines(f: Frame) -> str:
    """The two axis lines, drawn over the data so that no bar hides them."""
    return (
        f'<path d="M{n(f.left)} {n(f.top)}V{n(f.bottom)}H{n(f.right)}" fill="none" stroke="{INK}"/>'
    )


def legend(names: Sequence[str], top: float) -> tuple[list[str], float]:
    """Legend entries flowed into rows under the title; returns them and the height used."""
    out: list[str] = []
    x, y = float(LEFT), top
    for i, name in enumerate(names):
        w = 30 + 6.5 * len(name)
        if x + w > WIDTH - RIGHT and x > LEFT:
            x, y = float(LEFT), y + LEGEND_ROW
        colour, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
        out.append(
            hline(x, x + 22, y - 4, colour, f' stroke-width="2.5" stroke-dasharray="{dash}"')
        )
        out.append(text(x + 26, y, name, anchor="start"))
        x += w
    return out, y - top + LEGEND_ROW
