"""`make bench`: every benchmark at its default size, each in its own process, and
bench/RESULTS.md written from what they measured.

    .venv/bin/python -m bench.run_all                      # the default sizes
    .venv/bin/python -m bench.run_all "send --contacts 20000" "journeys --contacts 10000"

Each run is `python -m bench.<name> <args> --json <file>` (bench.report); its figures are
kept in bench/results.json under its command line, so that the default run and the runs
at other sizes (`make bench-scale`) accumulate, and RESULTS.md is rendered from all of
them: date, machine, engine, each figure, its target, met or not. A benchmark that fails
or outlasts its time limit is recorded as such, never silently left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
STORE = HERE / "results.json"
RESULTS = HERE / "RESULTS.md"
DEFAULTS = ["auth", "ingest", "segments", "send", "journeys", "graphql", "analytics"]
LIMIT_SECONDS = 1200  # one benchmark at most; make bench as a whole aims at < 15 min


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}"


def engine() -> str:
    if os.environ.get("MONGODB_URI"):
        from pymongo import MongoClient

        with MongoClient(os.environ["MONGODB_URI"], serverSelectionTimeoutMS=5000) as client:
            return f"MongoDB {client.server_info().get('version', '?')} (MONGODB_URI)"
    return f"embedded SecantusDB {metadata.version('SecantusDB')} (in memory)"


def run(command: str) -> dict:
    """Run one benchmark; its figures, or why there are none."""
    name, *args = shlex.split(command)
    with tempfile.TemporaryDirectory(prefix="reach-bench-") as tmp:
        out = Path(tmp) / "figures.json"
        argv = [sys.executable, "-m", f"bench.{name}", *args, "--json", str(out)]
        print(f"\n=== {command}", flush=True)
        started = time.perf_counter()
        try:
            finished = subprocess.run(argv, timeout=LIMIT_SECONDS, check=False)
            status = "ok" if finished.returncode == 0 else f"exit {finished.returncode}"
        except subprocess.TimeoutExpired:
            status = f"timed out after {LIMIT_SECONDS} s"
        seconds = time.perf_counter() - started
        payload = json.loads(out.read_text()) if out.exists() else {"figures": []}
    if status != "ok" and payload["figures"]:
        status += " (figures written before it ended)"
    return {
        "command": command,
        "bench": name,
        "size": payload.get("size", ""),
        "figures": payload["figures"],
        "status": status,
        "seconds": round(seconds, 1),
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "engine": engine(),
    }


def render(store: dict[str, dict]) -> str:
    runs = sorted(
        store.values(),
        key=lambda r: (DEFAULTS.index(r["bench"]) if r["bench"] in DEFAULTS else 99, r["command"]),
    )
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (every benchmark at its default size) and `make bench-scale`",
        "(send and journeys at 10,000 and 20,000 contacts) through bench/run_all.py; each",
        "figure is a ratio against a baseline measured in the same run unless a unit says",
        "otherwise. Targets are issue 12's.",
        "",
    ]
    for r in runs:
        lines += [
            f"## `{r['command']}`",
            "",
            f"{r['size'] or '(no size reported)'}. {r['at']}; {r['seconds']:.0f} s; {r['status']}.  ",
            f"Machine: {r['machine']}. Engine: {r['engine']}.",
            "",
            "| measure | value | target | met |",
            "|---|---|---|---|",
        ]
        for f in r["figures"]:
            met = "—" if f["met"] is None else ("yes" if f["met"] else "**no**")
            value = f"{f['value']:.3g}" + (f" {f['unit']}" if f.get("unit") else "")
            lines.append(f"| {f['measure']} | {value} | {f['target'] or '—'} | {met} |")
        if not r["figures"]:
            lines.append("| (no figures: the run failed) | | | |")
        lines.append("")
    return "\n".join(lines)


def main(commands: list[str]) -> int:
    store = json.loads(STORE.read_text()) if STORE.exists() else {}
    started = time.perf_counter()
    failed = 0
    for command in commands or DEFAULTS:
        result = run(command)
        store[command] = result
        failed += result["status"] != "ok"
        STORE.write_text(json.dumps(store, indent=2) + "\n")
        RESULTS.write_text(render(store))
    print(
        f"\n{len(commands or DEFAULTS)} benchmarks in {time.perf_counter() - started:.0f} s; "
        f"{failed} failed; results in {RESULTS.relative_to(HERE.parent)}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commands", nargs="*", help='e.g. "send --contacts 20000"')
    raise SystemExit(main(parser.parse_args().commands))
