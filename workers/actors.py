"""Actor functions. They are registered on the broker by workers.broker.setup()."""

from __future__ import annotations

import dramatiq

from resolvers.accounts import users
from resolvers.campaigns import ab_test, fanout, paid_audience, runs
from resolvers.contacts import csv_import
from resolvers.journeys import step, wakeups
from resolvers.messaging import deliver, engagement
from resolvers.messaging import dispatch as send_dispatch
from resolvers.partners import delivery as partner_delivery
from resolvers.reactions import dispatch as reaction_dispatch
from resolvers.segments import recompute
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
    run(users.deliver_invitation(invitation_id))


@actor(
    queue_name="imports",
    max_retries=csv_import.MAX_RETRIES,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=csv_import.RUN_TIMEOUT_SECONDS * 1000,
)
def run_contact_import(job_id: str) -> None:
    run(csv_import.run_import(job_id), timeout=csv_import.RUN_TIMEOUT_SECONDS)


@actor(queue_name="segments", max_retries=0, time_limit=600_000)
def refresh_segments() -> None:
    """Time windows lapse without events: re-evaluate the time-dependent segments."""
    run(recompute.refresh_time_windows(), timeout=600)


@actor(queue_name="reactions", max_retries=10, min_backoff=500, max_backoff=60_000)
def react_to_events(workspace_id: str, event_ids: list[str]) -> None:
    """Journey triggers/waits/exits, triggered campaigns and goals for stored events."""
    run(reaction_dispatch.react(workspace_id, event_ids))


@actor(
    queue_name="sends",
    max_retries=deliver.MAX_ATTEMPTS,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=120_000,
)
def send_message(workspace_id: str, message_id: str) -> None:
    """One message to one contact; a duplicate delivery of this job finds the row claimed."""
    try:
        run(deliver.deliver(workspace_id, message_id), timeout=110)
    except deliver.RetryLater as later:  # retried without an error log; the row says why
        raise dramatiq.Retry(str(later), delay=later.delay_ms) from later


@actor(
    queue_name="sends",
    max_retries=deliver.MAX_ATTEMPTS,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=120_000,
)
def deliver_messages(workspace_id: str, message_ids: list[str]) -> None:
    """A batch of queued messages (one fan-out page's share); a duplicate or a retry of
    this job claims only the rows still queued."""
    try:
        run(deliver.deliver_batch(workspace_id, message_ids), timeout=110)
    except deliver.RetryLater as later:  # retried without an error log; the rows say why
        raise dramatiq.Retry(str(later), delay=later.delay_ms) from later


@actor(queue_name="sends", max_retries=20, min_backoff=500, max_backoff=30_000)
def provider_status(
    workspace_id: str, message_id: str, status: str, error: str | None, provider_id: str
) -> None:
    """A provider's delivery report (delivered, bounced, failed, read) for one message."""
    try:
        run(engagement.apply_status(workspace_id, message_id, status, error, provider_id))
    except engagement.NotSentYet as wait:  # the send is still being recorded
        raise dramatiq.Retry(str(wait), delay=1_000) from wait


@actor(queue_name="sends", max_retries=0, time_limit=120_000)
def dispatch_due() -> None:
    """Scheduled sends whose time came, and queued ones whose job was lost."""
    run(send_dispatch.dispatch_due(), timeout=110)


@actor(queue_name="journeys", max_retries=10, min_backoff=500, max_backoff=60_000)
def journey_step(workspace_id: str, enrollment_id: str, expected_step: int) -> None:
    """Move one journey run on; a late or duplicated message finds the step changed."""
    run(step.step(workspace_id, enrollment_id, expected_step))


@actor(queue_name="journeys", max_retries=10, min_backoff=500, max_backoff=60_000)
def journey_steps(workspace_id: str, runs: list[list], token: str | None = None) -> None:
    """Move a page of journey runs [(id, expected step)] on: one read, one queue call per
    send round and one bulk write for the page; runs moved meanwhile are left alone."""
    run(step.step_runs(workspace_id, runs, token=token), timeout=280)


@actor(queue_name="journeys", max_retries=0, time_limit=120_000)
def journey_wakeups() -> None:
    """Journey runs whose wait is over (or whose step message was lost)."""
    run(wakeups.run_wakeups(), timeout=110)


@actor(queue_name="journeys", max_retries=0, time_limit=600_000)
def journey_date_triggers() -> None:
    """Runs that date-property triggers (renewal dates, birthdays) owe today."""
    run(wakeups.run_date_triggers(), timeout=590)


@actor(queue_name="campaigns", max_retries=10, min_backoff=1_000, max_backoff=60_000)
def campaign_fanout(workspace_id: str, campaign_id: str, run_number: int, branch: str) -> None:
    """One page (500 contacts) of a campaign run's audience, then the next page's job."""
    run(fanout.fanout_page(workspace_id, campaign_id, run_number, branch), timeout=280)


@actor(queue_name="campaigns", max_retries=5, min_backoff=1_000, max_backoff=60_000)
def campaign_decide_winner(workspace_id: str, campaign_id: str, run_number: int) -> None:
    """An A/B test's decision (significance, or the window's end), then the rest."""
    run(ab_test.decide(workspace_id, campaign_id, run_number))


@actor(queue_name="campaigns", max_retries=0, time_limit=120_000)
def campaign_tick() -> None:
    """Due scheduled and recurring runs, A/B tests to check, campaigns to complete."""
    run(runs.tick(), timeout=110)


@actor(
    queue_name="campaigns",
    max_retries=8,
    min_backoff=5_000,
    max_backoff=600_000,
    time_limit=900_000,
)
def campaign_paid_audience(workspace_id: str, campaign_id: str, run_number: int) -> None:
    """Hybrid campaigns: export a run's audience to a file or a partner webhook."""
    run(paid_audience.export(workspace_id, campaign_id, run_number), timeout=890)


@actor(queue_name="system", max_retries=0, time_limit=120_000)
def partner_webhooks_due() -> None:
    """Due partner webhook deliveries; retries are rows' next_attempt_at, not job retries."""
    run(partner_delivery.dispatch_due(), timeout=110)
