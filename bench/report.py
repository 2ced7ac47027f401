"""Figures a benchmark hands to `make bench` (bench.run_all), which writes bench/RESULTS.md.

A benchmark run with `--json PATH` writes there what it measured, one `Figure` per row of
the issue's target table: the measured value, the target as text, and whether it was met
(None where a figure is reported for context and has no target). Keeping the protocol a
plain JSON file lets run_all start each benchmark in its own process (a fresh engine, no
state carried between them) and still assemble one table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Figure:
    measure: str  # what is measured, e.g. "msg/s vs one-write Dramatiq jobs"
    value: float
    target: str = ""  # e.g. ">= 1.0"; empty: reported, no target
    met: bool | None = None
    unit: str = ""


def at_least(measure: str, value: float, target: float, unit: str = "") -> Figure:
    return Figure(measure, value, f">= {target:g}", value >= target, unit)


def at_most(measure: str, value: float, target: float, unit: str = "") -> Figure:
    return Figure(measure, value, f"<= {target:g}", value <= target, unit)


def below(measure: str, value: float, target: float, unit: str = "") -> Figure:
    return Figure(measure, value, f"< {target:g}", value < target, unit)


def context(measure: str, value: float, unit: str = "") -> Figure:
    return Figure(measure, value, "", None, unit)


def write(path: str | Path | None, bench: str, size: str, figures: list[Figure]) -> None:
    """Write `figures` to `path` (nothing when no --json was given) and print them."""
    for f in figures:
        verdict = "" if f.met is None else (" met" if f.met else " NOT met")
        print(
            f"  [{bench}] {f.measure}: {f.value:.3g} {f.unit} (target {f.target or '-'}){verdict}"
        )
    if path:
        payload = {"bench": bench, "size": size, "figures": [asdict(f) for f in figures]}
        Path(path).write_text(json.dumps(payload, indent=2))


def read(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())
