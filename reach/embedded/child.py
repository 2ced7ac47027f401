"""A server run as a child process that cannot outlive its owner.

Each server runs under `reach.embedded.guard`, which stops it cleanly when the owner
stops it or dies (even by SIGKILL), so a killed `serve` leaves no database behind. The
guard runs in its own process group: a Ctrl-C in the terminal reaches `serve` only, which
then drains requests and stops its servers in order.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `args` under the guard, with stdout and stderr appended to `log_path`.
    The returned process is the guard: signal it, never the server."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        # The pipe's write end stays with this process only (close_fds): its EOF is our death.
        return subprocess.Popen(
            [sys.executable, "-m", "reach.embedded.guard", *args],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM, wait up to `timeout` for a clean exit, then SIGKILL."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()  # the guard's server group goes with it below
            process.wait()
            _kill_group(process.pid)
    if process.stdin:
        process.stdin.close()


def _kill_group(pgid: int) -> None:
    import os
    import signal

    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for_line(
    process: subprocess.Popen[bytes], log_path: Path, offset: int, marker: str, timeout: float
) -> str:
    """The first line after `offset` in the log that contains `marker`; raise if the
    process exits or the time runs out first."""
    deadline = time.monotonic() + timeout
    while True:
        with open(log_path, "rb") as log:
            log.seek(offset)
            for raw in log.read().decode(errors="replace").splitlines():
                if marker in raw:
                    return raw
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {tail(log_path, offset)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready within {timeout:.0f} s: {tail(log_path, offset)}")
        time.sleep(0.05)


def tail(log_path: Path, offset: int, size: int = 2000) -> str:
    with open(log_path, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")[-size:].strip() or "(no output)"
