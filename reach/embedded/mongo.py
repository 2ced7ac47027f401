"""The embedded MongoDB: SecantusDB's `secantusd-py` server (MongoDB wire protocol over
WiredTiger) as a child process on loopback.

SecantusDB is GPL-2.0-only, so Reach runs it only as a separate program through its
console script and imports nothing of it. It presents itself as a one-node replica set,
so transactions and change streams work through the ordinary driver.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from reach.embedded import child

_LISTENING = re.compile(r"secantus listening on (\S+):(\d+)")


def executable() -> str:
    """`secantusd-py` beside this interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "secantusd-py"
    found = str(beside) if beside.exists() else shutil.which("secantusd-py")
    if not found:
        raise RuntimeError(
            "secantusd-py not found: install the SecantusDB package (pip install SecantusDB) "
            "or set MONGODB_URI to a MongoDB server"
        )
    return found


class EmbeddedMongo:
    """`storage_dir` holds the WiredTiger files (kept across restarts); None keeps
    everything in a temporary directory that the server removes when it stops."""

    def __init__(self, storage_dir: Path | None, log_path: Path | None = None) -> None:
        self.storage_dir = storage_dir
        # A memory server's log (and config) live in a directory of its own, removed at stop.
        self._scratch = None if storage_dir is not None else Path(tempfile.mkdtemp("-secantus"))
        if log_path is None:
            log_path = (storage_dir.parent if storage_dir else self._scratch) / "secantusd.log"
        self.log_path = log_path
        self.uri: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> str:
        storage = ":memory:"
        if self.storage_dir is not None:
            self.storage_dir.mkdir(parents=True, exist_ok=True)
            storage = str(self.storage_dir)
        config = self.log_path.parent / "secantusd.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        # An explicit (empty) config file: a secantusd.toml in the working directory or
        # the home directory must not change what Reach starts.
        config.write_text("# Reach passes every setting on the command line.\n")
        args = [
            executable(),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--storage-path",
            storage,
            "--log-level",
            "INFO",
        ]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._process = child.spawn(args, self.log_path)
        try:
            line = child.wait_for_line(
                self._process, self.log_path, offset, "secantus listening on", timeout
            )
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"embedded MongoDB (secantusd-py) did not start: {error}") from None
        match = _LISTENING.search(line)
        assert match, line
        # retryWrites=false: SecantusDB keeps each retryable write's reply for 30 minutes
        # (up to 10,000) and walks, past the cap sorts, that whole record on every write:
        # measured, writes fell from 1,070/s to 243/s after 12,000 of them, and stayed at
        # 1,750/s without. A retry could only help if loopback dropped a live server;
        # Reach's writes are idempotent (keys, conditional updates) in any case.
        self.uri = f"mongodb://{match.group(1)}:{match.group(2)}/?retryWrites=false"
        return self.uri

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: the server closes its connections and WiredTiger (a checkpoint)."""
        process, self._process = self._process, None
        child.stop(process, timeout)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
