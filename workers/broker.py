"""Create the Redis broker and declare every actor on it."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from workers.actors import ACTORS


def setup(redis_url: str, namespace: str = "reach") -> RedisBroker:
    broker = RedisBroker(url=redis_url, namespace=namespace)
    dramatiq.set_broker(broker)
    for name, (fn, options) in ACTORS.items():
        dramatiq.actor(fn, actor_name=name, broker=broker, **options)
    return broker


def start_worker(broker: RedisBroker, threads: int) -> dramatiq.Worker:
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=250)
    worker.start()
    return worker


def send_counts(broker: RedisBroker) -> dict[tuple[str, str], int]:
    """Messages finished per (channel, status) by every worker (for /metrics)."""
    counts = broker.client.hgetall(f"{broker.namespace}:metrics:sends")
    result = {}
    for field, value in counts.items():
        channel, _, status = field.decode().partition("|")
        result[(channel, status)] = int(value)
    return result


def queue_depth(broker: RedisBroker) -> dict[str, int]:
    """Messages waiting per queue (for /metrics)."""
    depth = {}
    for queue in sorted(broker.get_declared_queues()):
        depth[queue] = int(broker.client.llen(f"{broker.namespace}:{queue}"))
    return depth
