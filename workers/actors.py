"""Actor functions. They are registered on the broker by workers.broker.setup()."""

from __future__ import annotations

from resolvers import imports, members, membership
from workers.loop import run

# name -> (function, dramatiq actor options)
ACTORS = {}


def actor(**options):
    def register(fn):
        ACTORS[fn.__name__] = (fn, options)
        return fn

    return register


@actor(queue_name="system", max_retries=5, min_backoff=1_000, max_backoff=60_000)
def deliver_invitation(invitation_id: str) -> None:
    run(members.deliver_invitation(invitation_id))


@actor(
    queue_name="imports",
    max_retries=imports.MAX_RETRIES,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=imports.RUN_TIMEOUT_SECONDS * 1000,
)
def run_contact_import(job_id: str) -> None:
    run(imports.run_import(job_id), timeout=imports.RUN_TIMEOUT_SECONDS)


@actor(queue_name="segments", max_retries=0, time_limit=600_000)
def refresh_segments() -> None:
    """Time windows lapse without events: re-evaluate the time-dependent segments."""
    run(membership.refresh_time_windows(), timeout=600)
