"""The path a run takes at once (engine.journeys.path): instant nodes walked in Python, the
stops where the runner must act (a send, a branch reading run facts), and the one update
that records them all. Pure; time is an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.journeys import path
from tests.engine.test_journey_graph import edge, node
from tests.engine.test_journey_step import build, facts

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EMAIL = {"email": {"subject": "Hi", "text": "Hello"}}


def test_branch_split_zero_wait_and_exit_in_one_walk():
    g = build(
        [
            node("t", "trigger", kind="api"),
            node("b", "branch", cases=[{"key": "vip", "rules": {"tag": "vip"}}]),
            node("s", "split", cohorts=[{"key": "a", "percent": 50}, {"key": "z", "percent": 50}]),
            node("w", "wait", kind="duration", seconds=0),
            node("x", "exit"),
        ],
        [
            edge("t", "b"),
            edge("b", "s", "vip"),
            edge("b", "s", "default"),
            edge("s", "w", "a"),
            edge("s", "w", "z"),
            edge("w", "x"),
        ],
    )
    walked = path.walk(path.Path("t"), g, facts(tags=["vip"]), NOW, salt="j")
    assert not walked.blocked and walked.status == "completed" and walked.outcome == "exit"
    assert [e["node"] for e in walked.entries] == ["t", "b", "s", "w", "x"]
    assert walked.entries[1]["outcome"] == "vip" and walked.entries[3]["outcome"] == "waited"
    change = path.update(walked, NOW, timedelta(minutes=3))
    assert change["$inc"] == {"step": 5}
    assert change["$push"]["history"]["$each"] == walked.entries
    assert change["$set"]["status"] == "completed" and change["$set"]["due_at"] is None


def test_stops_at_a_send_and_at_a_branch_that_reads_engagement():
    g = build(
        [
            node("t", "trigger", kind="api"),
            node("hi", "send", channels=["email"], content=EMAIL),
            node("o", "branch", cases=[{"key": "y", "rules": {"engaged": "opened", "node": "hi"}}]),
            node("w", "wait", kind="duration", seconds=3600),
            node("x", "exit"),
        ],
        [
            edge("t", "hi"),
            edge("hi", "o"),
            edge("o", "x", "y"),
            edge("o", "w", "default"),
            edge("w", "x"),
        ],
    )
    walked = path.walk(path.Path("t"), g, facts(), NOW)
    assert walked.send is not None and walked.node_id == "hi" and len(walked.entries) == 1
    path.sent(walked, NOW, "queued:email")
    path.walk(walked, g, facts(), NOW)
    assert walked.needs == "o"  # the runner loads engagement first
    path.loaded(walked)
    path.walk(walked, g, facts(), NOW)
    assert walked.status == "waiting" and walked.wake_at == NOW + timedelta(hours=1)
    assert [(e["node"], e["outcome"]) for e in walked.entries] == [
        ("t", "entered"),
        ("hi", "queued:email"),
        ("o", "default"),
        ("w", "waiting"),
    ]
    change = path.update(walked, NOW, timedelta(minutes=3))
    assert change["$set"]["due_at"] == NOW + timedelta(hours=1) and change["$inc"]["step"] == 4


def test_a_resumed_wait_records_its_move_first():
    resumed = path.resumed("w", path.stepping.Move("x", "timeout"), NOW)
    assert resumed.node_id == "x" and resumed.entries == [
        {"node": "w", "at": NOW, "outcome": "timeout"}
    ]
