"""What every benchmark script does with BENCHMARKS.md: rewrite its own section and say which
code it measured."""

import contextlib
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


def machine() -> str:
    """The machine in one line: CPU, cores, memory, system and Python."""
    import os
    import platform

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    cores = f"{os.cpu_count()} cores" + (f" ({cpu})" if cpu else "")
    system = f"{platform.system()} {platform.release().split('-')[0]} {platform.machine()}"
    return f"{cores}{memory}, {system}, Python {platform.python_version()}"
