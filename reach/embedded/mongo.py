"""Start and stop the embedded MongoDB wire server as a child process.

A child process keeps mongoeco's Python engine off the request loop and lets
`serve` and `reach worker` processes share one database.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path


class EmbeddedMongo:
    def __init__(self, sqlite_path: Path | None = None) -> None:
        self.sqlite_path = sqlite_path
        self.uri: str | None = None
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> str:
        args = [sys.executable, "-m", "reach.embedded.mongo_server"]
        if self.sqlite_path is None:
            args.append("--memory")
        else:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            args += ["--sqlite", str(self.sqlite_path)]
        self._process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self._process.stdout.readline()))
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith("READY "):
            self.stop()
            raise RuntimeError(
                f"embedded MongoDB (mongoeco) did not start: {line[0] if line else 'timeout'}"
            )
        uri = line[0].split(" ", 1)[1].strip()
        # The engine answers one command at a time, and a big one (a bulk insert into a
        # collection with unique indexes) can take longer than the driver's 20 s monitor
        # timeout; the monitor would then mark the server down and cancel every operation
        # in flight. Patience is the right answer for an embedded, local server.
        separator = "&" if "?" in uri else "?"
        self.uri = f"{uri}{separator}connectTimeoutMS=600000&serverSelectionTimeoutMS=600000"
        return self.uri

    def stop(self, timeout: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        finally:
            if process.stdin:
                process.stdin.close()
            if process.stdout:
                process.stdout.close()
