"""docs/benchmarks.md is shared by every benchmark: each one replaces only its own section."""
from __future__ import annotations

import os
import platform
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def replace_section(title: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace the section headed ``## {title}`` (up to the next ``## ``) or append it."""
    heading = f"## {title}"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else ["# Benchmarks"]
    new = [heading, "", *body.strip("\n").splitlines(), ""]
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        lines[start:end] = new
    else:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *new]
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def replace_preamble(text: str, path: Path = BENCHMARKS) -> None:
    """Replace what stands before the first ``## `` section (the page's title and intro)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    first = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    lines[:first] = [*text.strip("\n").splitlines(), ""]
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")
