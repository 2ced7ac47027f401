"""`python -m reach.embedded.guard PROGRAM ARGS...`: run an embedded server so that it
stops cleanly, exactly once, when its owner stops it or dies.

The owner holds this process's stdin open; EOF means the owner is gone, even when it
was SIGKILLed. Either that or one SIGTERM makes the guard send the server a single
SIGTERM and wait for it: a server's own signal handler need not survive being
signalled again mid-shutdown (the kernel's parent-death signal can repeat), and the
guard's does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading


def main() -> int:
    server = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
    stopping = threading.Event()

    def stop(*_: object) -> None:
        if not stopping.is_set():
            stopping.set()
            try:
                server.terminate()
            except ProcessLookupError:
                pass

    def watch_owner() -> None:
        while sys.stdin.buffer.read(1):
            pass
        stop()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    threading.Thread(target=watch_owner, daemon=True).start()
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
