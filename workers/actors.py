"""Actor functions. They are registered on the broker by workers.broker.setup()."""

from __future__ import annotations

from resolvers import members
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
