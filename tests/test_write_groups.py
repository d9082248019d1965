"""Polls that found new stories write a group at a time, on SQLite and on
PostgreSQL: one transaction for the group, each poll a savepoint of it.
A source whose lease was lost writes nothing while the others' polls are
kept; a crash before the group commits loses the group's stories and
outbox rows together, so they are polled and alerted again, once; a copy
of a story written earlier in the same open group is known as one; a
group the database will not commit is written again poll by poll."""

from __future__ import annotations

import pytest
from test_poll_groups import RULE, Trace, _monitor, _row  # noqa: F401

import monitor.pollgroup
from monitor.store import Store
from monitor.store.db import GroupTx
from monitor.store.sources import _OWNERS_HERE

LONG = (
    "The city council approved a contract for cameras with facial recognition "
    "at every transit station, over the objections of privacy groups and residents."
)


def _doc(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS document of (guid, title, link) items, each with LONG as its text."""
    parts = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>W</title>']
    for guid, title, link in items:
        parts.append(
            f"<item><title>{title}</title><link>{link}</link>"
            f'<guid isPermaLink="false">{guid}</guid><description>{LONG}</description></item>'
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def _plain(name: str) -> tuple[str, str, str]:
    return (f"{name}-old", "Budget hearing set for Tuesday", f"https://{name}.example/budget")


def _new(name: str) -> tuple[str, str, str]:
    return (
        f"{name}-new",
        f"Facial recognition at stations, says {name}",
        f"https://{name}.example/fr",
    )


def _serve(http_server, names: list[str], new: bool) -> dict[str, str]:
    return {
        n: http_server.add(
            f"/{n}.xml",
            _doc(([_new(n)] if new else []) + [_plain(n)]),
            content_type="application/rss+xml",
        )
        for n in names
    }


def _outbox(store: Store) -> list[str]:
    rows = store.db.execute(
        "SELECT st.source FROM outbox o JOIN stories st ON st.id=o.story_id ORDER BY st.source"
    ).fetchall()
    return [r["source"] for r in rows]


def _keys(store: Store, name: str) -> set[str]:
    rows = store.db.execute("SELECT key FROM stories WHERE source=?", (name,)).fetchall()
    return {r["key"] for r in rows}


@pytest.fixture
def long_groups(monkeypatch):
    """A group waits for the end of the cycle (no commit on the clock)."""
    monkeypatch.setattr(monitor.pollgroup, "GROUP_SECONDS", 3600.0)


def test_a_changed_cycle_writes_its_polls_in_one_transaction(
    state, tmp_path, http_server, long_groups
):
    names = [f"s{i}" for i in range(5)]
    mon = _monitor(state, tmp_path, _serve(http_server, names, new=False))
    try:
        mon.cycle(mon.sources)  # the baseline
        _serve(http_server, names, new=True)
        trace = Trace(mon.store)
        polls = mon.cycle(mon.sources).polls
        assert sorted((p.source, p.new, p.queued) for p in polls) == [(n, 1, 1) for n in names]
        # one transaction holds every poll's stories and outbox rows (the
        # old code took one per source)
        (group,) = trace.writing("INSERT INTO stories")
        assert sum("INSERT INTO outbox" in s for s in group) == len(names)
        assert sum(s.startswith("SAVEPOINT") for s in group) >= len(names)
        assert _outbox(mon.store) == names
        for n in names:
            assert _row(mon.store, n)["lease_owner"] is None
    finally:
        mon.close()


def test_a_lost_lease_in_the_group_writes_nothing_of_that_poll_and_keeps_the_rest(
    state, tmp_path, http_server, long_groups, caplog
):
    caplog.set_level("INFO", logger="monitor")
    names = ["s0", "s1", "s2"]
    mon = _monitor(state, tmp_path, _serve(http_server, names, new=False), workers=1)
    other = Store(state)
    try:
        mon.cycle(mon.sources)
        _serve(http_server, names, new=True)
        serve = http_server.routes["/s0.xml"]

        def stolen(h):
            # while this replica fetches s0 (the first), its lease runs out
            # and another replica takes the source
            other.db.execute("UPDATE sources SET lease_until=0 WHERE name='s0'")
            other.claim_sources(["s0"], now=0.0, lease_seconds=60, force=True)
            serve(h)

        http_server.route("/s0.xml", stolen)
        trace = Trace(mon.store)
        caplog.clear()
        with caplog.at_level("INFO", logger="monitor"):
            polls = {p.source: p for p in mon.cycle(mon.sources).polls}
        assert polls["s0"].reason == "lease_lost" and not polls["s0"].ok
        assert polls["s1"].queued == 1 and polls["s2"].queued == 1
        assert "event=source.polled source=s0" not in caplog.text
        assert "event=source.polled source=s1" in caplog.text
        # s0's new story waits for the replica that holds it; the group's
        # other polls were committed with their alerts, in one transaction
        assert _keys(mon.store, "s0") == {"guid:s0-old"}
        assert _row(mon.store, "s0")["lease_owner"] == other.owner
        assert _outbox(mon.store) == ["s1", "s2"]
        assert len(trace.writing("INSERT INTO outbox")) == 1
    finally:
        other.close()
        mon.close()


class Crash(BaseException):
    """The process dies: nothing of the monitor's own handling runs."""


def test_a_crash_before_the_group_commits_polls_again_and_alerts_once(
    state, tmp_path, http_server, long_groups, monkeypatch
):
    names = ["s0", "s1", "s2"]
    urls = _serve(http_server, names, new=False)
    mon = _monitor(state, tmp_path, urls)
    try:
        mon.cycle(mon.sources)
        _serve(http_server, names, new=True)

        def crash(tx):
            raise Crash

        monkeypatch.setattr(GroupTx, "commit", crash)
        with pytest.raises(Crash):
            mon.cycle(mon.sources)
    finally:
        mon.close()  # the connection goes: the open transaction with it
    monkeypatch.undo()
    # the process is gone: a new one here takes its leases back at start
    _OWNERS_HERE.discard(mon.store.owner)
    store = Store(state)
    try:
        # neither a story without its outbox row nor an outbox row was kept
        assert _outbox(store) == []
        assert all(_keys(store, n) == {f"guid:{n}-old"} for n in names)
    finally:
        store.close()
    again = _monitor(state, tmp_path, urls)  # the process started again
    try:
        polls = again.cycle(again.sources).polls
        assert sorted((p.source, p.new, p.queued) for p in polls) == [(n, 1, 1) for n in names]
        assert _outbox(again.store) == names
        again.cycle(again.sources)  # and once only
        assert _outbox(again.store) == names
    finally:
        again.close()


def test_a_copy_of_a_story_written_earlier_in_the_open_group_is_known_as_one(
    state, tmp_path, http_server, long_groups
):
    names = ["s0", "s1", "s2"]
    mon = _monitor(state, tmp_path, _serve(http_server, names, new=False), workers=1)
    try:
        mon.cycle(mon.sources)
        story = ("wire-1", "Facial recognition at stations", "https://wire.example/fr")
        http_server.add("/s0.xml", _doc([story, _plain("s0")]), content_type="application/rss+xml")
        # s1 carries the same story under the same address
        http_server.add("/s1.xml", _doc([story, _plain("s1")]), content_type="application/rss+xml")
        # s2 carries the same text at an address of its own
        retold = ("s2-copy", "Facial recognition at stations", "https://s2.example/copy")
        http_server.add("/s2.xml", _doc([retold, _plain("s2")]), content_type="application/rss+xml")
        trace = Trace(mon.store)
        polls = {p.source: p for p in mon.cycle(mon.sources).polls}
        assert len(trace.writing("INSERT INTO stories")) == 1  # all in one open group
        assert [polls[n].new for n in names] == [1, 1, 1]
        # one alert: s1's copy is known by its address, s2's by its text
        assert _outbox(mon.store) == ["s0"]
        assert polls["s1"].matched == 0
        dup = mon.store.db.execute(
            "SELECT st.source FROM duplicates d JOIN stories st ON st.id=d.story_id"
        ).fetchall()
        assert [r["source"] for r in dup] == ["s2"]
    finally:
        mon.close()


def test_a_group_the_database_will_not_commit_is_written_poll_by_poll(
    state, tmp_path, http_server, long_groups, monkeypatch, caplog
):
    caplog.set_level("INFO", logger="monitor")
    names = ["s0", "s1", "s2"]
    mon = _monitor(state, tmp_path, _serve(http_server, names, new=False))
    commit = GroupTx.commit
    refused: list[GroupTx] = []

    def refuse_once(tx):
        if not refused:
            refused.append(tx)
            raise ValueError("a value the database would not take at commit")
        commit(tx)

    try:
        mon.cycle(mon.sources)
        _serve(http_server, names, new=True)
        monkeypatch.setattr(GroupTx, "commit", refuse_once)
        trace = Trace(mon.store)
        caplog.clear()
        with caplog.at_level("INFO", logger="monitor"):
            polls = mon.cycle(mon.sources).polls
        assert refused and "event=poll.group_write_failed" in caplog.text
        assert all(p.ok for p in polls)
        # the refused group was rolled back, then each poll written on its own
        assert len(trace.writing("INSERT INTO outbox")) == 1 + len(names)
        assert _outbox(mon.store) == names
        for n in names:
            assert _keys(mon.store, n) == {f"guid:{n}-old", f"guid:{n}-new"}
            assert caplog.text.count(f"event=source.polled source={n} ") == 1
    finally:
        mon.close()


def test_a_failed_statement_on_postgresql_does_not_lose_the_group_silently(
    tmp_path, http_server, pg_url, long_groups, monkeypatch, caplog
):
    """PostgreSQL ends a transaction that met an error with a ROLLBACK when
    asked to COMMIT it: a server error swallowed by a bug must not pass
    for a committed group."""
    names = ["s0", "s1"]
    mon = _monitor(pg_url, tmp_path, _serve(http_server, names, new=False), workers=1)
    try:
        mon.cycle(mon.sources)
        _serve(http_server, names, new=True)
        record = Store.record_poll

        def swallowing(self, source, planned, **kw):
            got = record(self, source, planned, **kw)
            if source == "s1":  # after the savepoint, inside the group
                try:
                    self.db.conn.execute("SELECT 1/0")
                except Exception:
                    pass
            return got

        monkeypatch.setattr(Store, "record_poll", swallowing)
        monkeypatch.setattr(mon, "_savepointed", lambda write: write())
        with caplog.at_level("INFO", logger="monitor"):
            mon.cycle(mon.sources)
        monkeypatch.undo()
        assert "event=poll.group_write_failed" in caplog.text
        assert _outbox(mon.store) == names
    finally:
        mon.close()
