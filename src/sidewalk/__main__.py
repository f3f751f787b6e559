"""`python -m sidewalk` is the `sidewalk` command."""

from sidewalk.cli import app

app(prog_name="sidewalk")
