"""The bookkeeping of unchanged polls is written a group at a time, on
SQLite and on PostgreSQL: an all-304 cycle costs one transaction for its
group, not one per source; a source in the group whose lease was lost is
not written while the others are; a group the store could not take is
polled again, and a changed poll of the same cycle alerts once.
tests/test_write_groups.py has the same for the polls that found new
stories."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from test_hostile import rss_doc

import monitor.pollgroup
import monitor.polls
from monitor.config import Config, FetchSettings, SourceConfig
from monitor.engine import load_rules
from monitor.pollgroup import Pending, PollGroup
from monitor.service import Monitor
from monitor.store import NotModified, Store, StoreUnavailable
from monitor.store.db import GroupTx

RULE = """\
rules:
  - id: face-recognition
    title: Facial recognition
    severity: high
    match:
      any: ["facial recognition"]
"""


class Trace:
    """What a store's connection was asked: every statement on SQLite (the
    driver's trace callback), the transactions and statements on PostgreSQL
    (counted where the adapter sends them)."""

    def __init__(self, store: Store):
        self.statements: list[str] = []
        db = store.db
        if isinstance(db, sqlite3.Connection):
            db.set_trace_callback(self.statements.append)
            return
        execute, executemany, begin, end = db.execute, db.executemany, db.begin, db.end

        def traced_execute(sql, params=()):
            self.statements.append(sql)
            return execute(sql, params)

        def traced_executemany(sql, seq):
            seq = list(seq)
            self.statements.extend([sql] * len(seq))
            return executemany(sql, seq)

        def traced_begin():
            self.statements.append("BEGIN")
            begin()

        def traced_end(ok: bool):
            self.statements.append("COMMIT" if ok else "ROLLBACK")
            end(ok)

        db.execute, db.executemany = traced_execute, traced_executemany
        db.begin, db.end = traced_begin, traced_end

    def clear(self) -> None:
        self.statements.clear()

    @property
    def transactions(self) -> int:
        return sum(1 for s in self.statements if s.split()[0].upper() == "BEGIN")

    def writing(self, fragment: str) -> list[list[str]]:
        """The transactions with a statement that holds `fragment`, each as
        its statements (autocommitted ones stand alone)."""
        groups: list[list[str]] = []
        current: list[str] | None = None
        for s in self.statements:
            word = s.split()[0].upper()
            if word == "BEGIN":
                current = [s]
            elif current is not None:
                current.append(s)
                if word in ("COMMIT", "ROLLBACK"):
                    groups.append(current)
                    current = None
            else:
                groups.append([s])
        return [g for g in groups if any(fragment in s for s in g)]


def _monitor(state, tmp_path, urls: dict[str, str], workers: int = 4) -> Monitor:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir(exist_ok=True)
    (rules_dir / "r.yaml").write_text(RULE)
    rules, problems = load_rules([rules_dir])
    assert not problems
    cfg = Config(
        state=state,
        sources=[SourceConfig(name=n, kind="rss", url=u) for n, u in urls.items()],
        fetch=FetchSettings(per_host_delay=0, per_host_concurrency=workers, workers=workers),
    )
    return Monitor(cfg, rules)


def _feed(name: str, titles: list[str]) -> bytes:
    """A feed whose items are keyed by their titles."""
    return rss_doc(
        [(f"{name}-{t}", t, f"https://{name}.example/{t.replace(' ', '-')}") for t in titles]
    )


def _row(store: Store, name: str):
    return store.db.execute(
        "SELECT last_status, last_polled_at, lease_owner FROM sources WHERE name=?", (name,)
    ).fetchone()


def test_an_all_304_cycle_writes_its_bookkeeping_in_one_transaction(state, tmp_path, http_server):
    names = [f"s{i}" for i in range(12)]
    urls = {
        n: http_server.add_conditional(f"/{n}.xml", _feed(n, ["Council meets"]), etag=f'"{n}"')
        for n in names
    }
    mon = _monitor(state, tmp_path, urls)
    try:
        assert all(p.ok for p in mon.cycle(mon.sources).polls)
        trace = Trace(mon.store)
        polls = mon.cycle(mon.sources).polls
        assert sorted(p.source for p in polls) == sorted(names)
        assert all(p.ok and p.not_modified for p in polls)
        # one transaction writes every 304 (the old code took one per
        # source), one statement per source in it
        (group,) = trace.writing("last_polled_at")
        assert sum("last_polled_at" in s for s in group) == len(names)
        assert len(group) == len(names) + 3  # BEGIN, the leases read, COMMIT
        for n in names:
            row = _row(mon.store, n)
            assert row["last_status"] == 304 and row["lease_owner"] is None
    finally:
        mon.close()


def test_a_group_with_one_lost_lease_writes_the_others_and_not_that_one(state):
    a, b = Store(state), Store(state)
    try:
        for n in ("s0", "s1", "s2"):
            a.ensure_source(n, f"https://e.org/{n}")
        mine = a.claim_sources(["s0", "s2"], now=0.0, lease_seconds=60)
        # s1's lease has run out by the database's clock and another replica took it
        stale = a.claim_sources(["s1"], now=0.0, lease_seconds=-1)["s1"]
        theirs = b.claim_sources(["s1"], now=0.0, lease_seconds=60)["s1"]
        rows = [
            NotModified("s0", 50.0, 10.0, '"e0"', None, 304, mine["s0"]),
            NotModified("s1", 50.0, 10.0, '"e1"', None, 304, stale),
            NotModified("s2", 50.0, 10.0, '"e2"', None, 304, mine["s2"]),
        ]
        trace = Trace(a)
        assert a.record_not_modified_many(rows) == ["s1"]
        assert trace.transactions == 1
        for n in ("s0", "s2"):
            state_ = a.source_state(n)
            assert state_.etag == f'"e{n[1]}"' and state_.next_check_at == 50.0
            assert _row(a, n)["lease_owner"] is None  # released with the write
        lost = _row(a, "s1")
        assert lost["last_polled_at"] is None and lost["lease_owner"] == b.owner
        assert a.source_state("s1").etag is None
        # the replica that holds s1 writes it
        assert (
            b.record_not_modified_many([NotModified("s1", 60.0, 11.0, None, None, 304, theirs)])
            == []
        )
        assert a.source_state("s1").next_check_at == 60.0
    finally:
        a.close()
        b.close()


def test_a_lease_lost_mid_cycle_is_named_and_the_rest_of_the_group_written(
    state, tmp_path, http_server, caplog
):
    names = ["s0", "s1", "s2"]
    bodies = {n: _feed(n, ["Council meets"]) for n in names}
    urls = {n: http_server.add_conditional(f"/{n}.xml", bodies[n], etag=f'"{n}"') for n in names}
    mon = _monitor(state, tmp_path, urls)
    other = Store(state)
    serve = monitor_route = http_server.routes["/s1.xml"]

    def stolen(h):
        # while this replica fetches s1, its lease runs out and another takes it
        other.db.execute("UPDATE sources SET lease_until=0 WHERE name='s1'")
        other.claim_sources(["s1"], now=0.0, lease_seconds=60, force=True)
        serve(h)

    try:
        mon.cycle(mon.sources)
        http_server.route("/s1.xml", stolen)
        caplog.clear()
        with caplog.at_level("INFO", logger="monitor"):
            polls = {p.source: p for p in mon.cycle(mon.sources).polls}
        assert polls["s1"].reason == "lease_lost" and not polls["s1"].ok
        assert polls["s0"].not_modified and polls["s2"].not_modified
        assert "event=source.lease_lost source=s1" in caplog.text
        assert "event=source.polled source=s1" not in caplog.text
        assert "event=source.polled source=s0" in caplog.text
        assert _row(mon.store, "s1")["lease_owner"] == other.owner
        assert _row(mon.store, "s1")["last_status"] == 200  # the first cycle's
        assert _row(mon.store, "s0")["last_status"] == 304
    finally:
        http_server.route("/s1.xml", monitor_route)
        other.close()
        mon.close()


def test_a_group_the_store_did_not_take_is_polled_again_and_the_alert_stays_one(
    state, tmp_path, http_server, pg_server_if_postgres, monkeypatch, caplog
):
    # the whole cycle's polls wait for its end
    monkeypatch.setattr(monitor.pollgroup, "GROUP_SECONDS", 3600.0)
    urls = {
        "a": http_server.add(
            "/a.xml", _feed("a", ["Council meets"]), content_type="application/rss+xml"
        ),
        "b": http_server.add_conditional("/b.xml", _feed("b", ["Budget"]), etag='"b"'),
        "c": http_server.add_conditional("/c.xml", _feed("c", ["Transit"]), etag='"c"'),
    }
    mon = _monitor(state, tmp_path, urls, workers=1)  # a, b, c in turn
    serve_c = http_server.routes["/c.xml"]
    interrupted = threading.Event()
    failing = threading.Event()
    commit = GroupTx.commit

    def refused_commit(tx):
        # SQLite in WAL mode lets no other process stop a commit: the disk
        # fills up at that moment instead (what SQLite would raise)
        if failing.is_set() and pg_server_if_postgres is None:
            raise StoreUnavailable("state.db: the disk is full")
        commit(tx)

    def interrupt(h):
        # the store goes away once a and b are handled, before the group is written
        if not interrupted.is_set():
            interrupted.set()
            failing.set()
            if pg_server_if_postgres is not None:
                pg_server_if_postgres.cut_connections(str(state))
        serve_c(h)

    try:
        mon.cycle(mon.sources)
        before = {n: _row(mon.store, n)["last_polled_at"] for n in "abc"}
        # a has a new story that matches; b and c answer 304
        http_server.add(
            "/a.xml",
            _feed("a", ["Police use facial recognition", "Council meets"]),
            content_type="application/rss+xml",
        )
        http_server.route("/c.xml", interrupt)
        monkeypatch.setattr(GroupTx, "commit", refused_commit)
        caplog.clear()
        with caplog.at_level("INFO", logger="monitor"), pytest.raises(StoreUnavailable):
            mon.cycle(mon.sources)
        failing.clear()
        assert mon.group is None and mon.writes is None
        # nothing of the cycle was committed: a's story and alert went with
        # the rest, and nothing was logged as polled
        assert mon.store.outbox_counts()["pending"] == 0
        assert {n: _row(mon.store, n)["last_polled_at"] for n in "abc"} == before
        assert "event=source.polled" not in caplog.text
        polls = {p.source: p for p in mon.cycle(mon.sources).polls}
        assert polls["b"].not_modified and polls["c"].not_modified
        assert polls["a"].new == 1 and polls["a"].queued == 1
        assert all(_row(mon.store, n)["last_status"] == 304 for n in "bc")
        # the alert, delivered now, neither lost nor queued twice
        assert [r["n"] for r in mon.store.db.execute("SELECT COUNT(*) AS n FROM outbox")] == [1]
        assert mon.store.outbox_counts()["sent"] == 1
    finally:
        mon.close()


@pytest.fixture
def pg_server_if_postgres(request, state):
    """The PostgreSQL server behind `state`, None on SQLite."""
    if isinstance(state, str):
        return request.getfixturevalue("pg_server")
    return None


def test_a_first_poll_asks_the_store_nothing_about_its_stories(state, tmp_path, http_server):
    urls = {
        "a": http_server.add(
            "/a.xml", _feed("a", ["Council meets", "Budget"]), content_type="application/rss+xml"
        )
    }
    mon = _monitor(state, tmp_path, urls)
    try:
        trace = Trace(mon.store)
        (first,) = mon.cycle(mon.sources).polls
        assert first.baseline and first.new == 2
        reads = [s for s in trace.statements if "FROM stories" in s and s.startswith("SELECT")]
        # no stored keys to ask for before the first poll is written, and a
        # baseline matches nothing, so the URLs other sources stored do not
        # matter to it (the old code asked for them, one query per source)
        assert reads == []
        trace.clear()
        http_server.add(
            "/a.xml",
            _feed("a", ["Transit", "Council meets", "Budget"]),
            content_type="application/rss+xml",
        )
        (second,) = mon.cycle(mon.sources).polls
        assert second.new == 1 and not second.baseline
        # a later poll asks: its new story's URL may be another source's
        reads = [s for s in trace.statements if "FROM stories" in s and s.startswith("SELECT")]
        assert any("canonical_url IN" in s for s in reads)
        stored = mon.store.db.execute("SELECT title FROM stories WHERE source='a'").fetchall()
        assert sorted(r["title"] for r in stored) == ["Budget", "Council meets", "Transit"]
    finally:
        mon.close()


def test_a_row_the_database_refuses_costs_only_its_own_source(tmp_path, http_server, caplog):
    names = ["s0", "s1", "s2"]
    urls = {
        n: http_server.add_conditional(f"/{n}.xml", _feed(n, ["Budget"]), etag=f'"{n}"')
        for n in names
    }
    mon = _monitor(tmp_path / "state.db", tmp_path, urls)
    try:
        mon.cycle(mon.sources)
        leases = mon.store.claim_sources(names, now=0.0, lease_seconds=60, force=True)
        src = {s.name: s for s in mon.sources}
        outcomes = {n: monitor.polls.PollOutcome(n, True, not_modified=True) for n in names}
        then = {n: [] for n in names}
        entries = [
            Pending(
                src[n],
                # s1's validator is a value no driver can bind (a bug upstream)
                NotModified(n, 99.0, 5.0, object() if n == "s1" else '"new"', None, 304, leases[n]),
                lambda n=n: then[n].append("written"),
                outcomes[n],
            )
            for n in names
        ]
        with caplog.at_level("INFO", logger="monitor"):
            PollGroup(mon.store).write(entries, mon._fenced)
        assert "event=poll.group_write_failed" in caplog.text
        assert then == {"s0": ["written"], "s1": [], "s2": ["written"]}
        assert outcomes["s1"].reason == "internal_error" and not outcomes["s1"].ok
        assert outcomes["s0"].ok and outcomes["s2"].ok
        assert mon.store.source_state("s0").etag == '"new"'
        assert mon.store.source_state("s1").last_error_reason == "internal_error"
    finally:
        mon.close()
