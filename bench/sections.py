"""What every benchmark script does with BENCHMARKS.md: rewrite its own section and say which
code it measured."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_section(
    path: Path, heading: str, section: str, *, header: str = "# Benchmarks\n"
) -> None:
    """Replace the section under `heading` (up to the next `## ` heading), keeping the others;
    a new section goes at the end."""
    text = path.read_text() if path.exists() else header
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def code_version() -> str:
    """The commit measured, and whether the sources had changes not committed."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" with uncommitted changes" if git("status", "--porcelain", "src") else "")
