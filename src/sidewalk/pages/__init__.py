"""The browser pages: the ops dashboard and the customer's tracking page, plain HTML, CSS
and JavaScript modules shipped inside the package (no build step, no CDN, nothing fetched
from elsewhere). A page's `{{name}}` placeholders are filled with escaped values."""

import html
import re
from functools import cache
from importlib.resources import files

from starlette.staticfiles import StaticFiles

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@cache
def _template(name: str) -> str:
    return files("sidewalk.pages").joinpath("static", name).read_text(encoding="utf-8")


def page(name: str, **values: str | None) -> str:
    """The page `name` with each `{{key}}` replaced by `values[key]`, escaped ('' if None)."""
    return _PLACEHOLDER.sub(
        lambda m: html.escape(values.get(m.group(1)) or "", quote=True), _template(name)
    )


def static_files() -> StaticFiles:
    """The pages' scripts and style, served under `/static`."""
    return StaticFiles(packages=[("sidewalk.pages", "static")])
