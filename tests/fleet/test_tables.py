"""The controller's allocation rules, without Ray: FIFO, injectivity, reports, refusal."""

from __future__ import annotations

import time

from reactor_runtime.fleet.tables import Tables
from reactor_runtime.fleet.tokens import AuthError, Credentials


def idle(name: str) -> dict:
    return {"status": "ok", "sessions": 0, "session_id": "00000000", "draining": False}


def busy(sid: str) -> dict:
    return {"status": "ok", "sessions": 1, "session_id": sid, "draining": False}


def tables_with(replicas: int, **limits) -> Tables:
    tables = Tables(**limits)
    for i in range(replicas):
        tables.report(f"r{i}", f"http://r{i}", idle(f"r{i}"))
    return tables


def bound(tables: Tables) -> dict[str, str]:
    return {s.sid: s.replica for s in tables.sessions.values() if s.state in ("WAITING", "ACTIVE")}


def test_reservations_follow_creation_order_and_never_share_a_replica() -> None:
    tables = tables_with(2)
    now = time.time()
    for i in (3, 1, 2, 0):
        tables.create(f"s{i}", now + i)
    first = [tables.reserve(), tables.reserve(), tables.reserve()]
    assert [pair[0].sid for pair in first[:2]] == ["s0", "s1"]
    assert first[2] is None
    assert len(set(bound(tables).values())) == 2
    assert tables.queue == ["s2", "s3"]


def test_a_session_is_refused_closed_when_the_queue_outlasts_the_poll_budget() -> None:
    tables = tables_with(2, poll_budget=140, expected_session=60)
    now = time.time()
    states = [tables.create(f"s{i}", now + i).state for i in range(8)]
    # 2 idle at once, then rounds of 2 at 60 s each: the 5th waiting one needs 180 s.
    assert states == ["PENDING"] * 6 + ["CLOSED"] * 2
    closed = tables.sessions["s6"]
    assert "poll budget" in closed.reason and "140" in closed.reason
    assert tables.counts["sessions_refused"] == 2


def test_a_report_of_an_idle_replica_ends_its_session_only_if_fresh() -> None:
    tables = tables_with(1)
    tables.create("s0", time.time())
    session, replica = tables.reserve()
    before = time.time()
    assert tables.started("s0", {"session_id": "s0"})
    assert tables.report("r0", "http://r0", idle("r0"), fetched_at=before - 1) == []
    assert session.state == "ACTIVE" and replica.state == "busy"
    assert tables.report("r0", "http://r0", idle("r0"), fetched_at=time.time() + 1) == ["s0"]
    assert session.state == "CLOSED" and replica.state == "idle"


def test_a_dead_replica_closes_its_session_and_takes_no_allocation() -> None:
    tables = tables_with(1)
    tables.create("s0", time.time())
    tables.reserve()
    tables.started("s0", {})
    assert tables.report("r0", "http://r0", None) == ["s0"]
    assert tables.sessions["s0"].reason == "its replica stopped"
    tables.create("s1", time.time())
    assert tables.reserve() is None


def test_after_a_restart_sessions_are_adopted_from_the_replicas_reports() -> None:
    tables = tables_with(0)
    tables.create("s1", time.time())  # a gateway re-creates a polled session
    tables.report("r0", "http://r0", busy("s1"))
    tables.report("r1", "http://r1", busy("s9"))
    assert bound(tables) == {"s1": "r0", "s9": "r1"}
    assert tables.queue == []
    tables.report("r2", "http://r2", busy("s1"))
    assert tables.counts["double_bookings_seen"] == 1
    assert bound(tables) == {"s1": "r0", "s9": "r1"}


def test_a_409_requeues_the_session_first_and_counts_it() -> None:
    tables = tables_with(1)
    now = time.time()
    tables.create("s0", now)
    tables.create("s1", now + 1)
    tables.reserve()
    tables.not_started("s0", "busy", refused_as_busy=True)
    assert tables.queue == ["s0", "s1"]
    assert tables.counts["double_bookings_refused"] == 1
    assert tables.reserve() is None


def test_a_session_past_the_maximum_duration_is_closed_for_its_replica_to_stop() -> None:
    tables = tables_with(1, max_session=30)
    tables.create("s0", time.time())
    tables.reserve()
    tables.started("s0", {})
    assert tables.expire_active(now=time.monotonic() + 10) == []
    assert tables.expire_active(now=time.monotonic() + 31) == [("s0", "r0")]
    assert "30 s limit" in tables.sessions["s0"].reason
    tables.freed("r0")
    assert tables.replicas["r0"].state == "idle"


def test_a_queued_session_is_dropped_only_after_the_clients_last_poll_and_delete() -> None:
    tables = tables_with(0, poll_budget=140)
    tables.create("s0", 1000.0)
    assert tables.expire_pending(now=1000.0 + 150) == []
    assert tables.expire_pending(now=1000.0 + 156) == ["s0"]
    assert tables.sessions["s0"].state == "CLOSED" and tables.queue == []
    assert tables.counts["sessions_expired"] == 1


def test_session_ids_and_tokens_are_signed_and_checked() -> None:
    credentials = Credentials(["key-1"])
    sid = credentials.new_session_id(now=1000.0)
    assert credentials.session_created(sid) == 1000.0
    assert credentials.session_created(sid[:-1] + ("0" if sid[-1] != "0" else "1")) is None
    token, expires = credentials.mint("key-1", expires_after=60)
    assert expires > time.time()
    credentials.check(f"Bearer {token}")
    for bad in (None, "Bearer ", f"Bearer x{token}", f"Basic {token}"):
        try:
            credentials.check(bad)
        except AuthError as exc:
            assert token not in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
    try:
        credentials.mint("key-2")
    except AuthError as exc:
        assert "key-2" not in str(exc)
    else:
        raise AssertionError("a wrong key minted a token")
    assert "key-1" not in repr(credentials)
