"""Several replicas on one PostgreSQL database (and the same store code on
SQLite): due sources and outbox rows are claimed with leases, a replica that
lost its lease writes nothing, migrations run on both backends, and a bad
database URL is one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psycopg
import pytest
from test_hostile import rss_doc

from monitor.config import Config
from monitor.engine import load_rules
from monitor.models import Story
from monitor.service import Monitor
from monitor.store import SCHEMA_VERSION, Delivery, LeaseLost, Planned, Store

RULE = """\
rules:
  - id: face-recognition
    title: Facial recognition
    severity: high
    match:
      any: ["facial recognition"]
"""


def _story(n: int) -> Story:
    return Story(
        source="wire",
        key=f"k{n}",
        title=f"Police expand facial recognition {n}",
        link=f"https://e.org/{n}",
        summary="Officers scan faces.",
    )


def test_due_sources_are_split_between_replicas_and_never_claimed_twice(state):
    a, b = Store(state), Store(state)
    try:
        for i in range(6):
            a.ensure_source(f"s{i}", f"https://e.org/{i}")
        names = [f"s{i}" for i in range(6)]
        first = a.claim_sources(names, now=100.0, lease_seconds=60, limit=4)
        second = b.claim_sources(names, now=100.0, lease_seconds=60)
        assert len(first) == 4 and len(second) == 2 and not set(first) & set(second)
        c = Store(state)
        assert (
            c.claim_sources(names, now=100.0, lease_seconds=60) == {}
        )  # all held by the other two
        c.close()
        # A poll's write releases the lease; the source is due again at its next check.
        a.record_not_modified("s0", next_check_at=200.0, now=100.0, lease=first["s0"])
        assert b.claim_sources(["s0"], now=150.0, lease_seconds=60) == {}  # not due yet
        assert set(b.claim_sources(["s0"], now=200.0, lease_seconds=60)) == {"s0"}
    finally:
        a.close()
        b.close()


def test_a_replica_that_outlived_its_lease_writes_nothing(state):
    a, b = Store(state), Store(state)
    try:
        a.ensure_source("wire", "https://e.org/feed")
        # a lease that has already run out by the database's clock: no sleeping
        stale = a.claim_sources(["wire"], now=0.0, lease_seconds=-1)["wire"]
        fresh = b.claim_sources(["wire"], now=0.0, lease_seconds=60)["wire"]
        assert fresh != stale
        planned = [Planned(_story(1), deliveries=(Delivery("desk", "stdout", "t", "b"),))]
        with pytest.raises(LeaseLost):
            a.record_poll(
                "wire",
                planned,
                etag=None,
                last_modified=None,
                next_check_at=10.0,
                now=1.0,
                lease=stale,
            )
        with pytest.raises(LeaseLost):
            a.record_failure("wire", "http", "500", next_check_at=10.0, now=1.0, lease=stale)
        assert a.known_keys("wire", ["k1"]) == set() and a.outbox_counts()["pending"] == 0
        assert (
            b.record_poll(
                "wire",
                planned,
                etag=None,
                last_modified=None,
                next_check_at=10.0,
                now=1.0,
                lease=fresh,
            )
            == 1
        )
        assert a.source_state("wire").baseline_done and a.outbox_counts()["pending"] == 1
    finally:
        a.close()
        b.close()


def test_outbox_rows_are_claimed_by_one_replica_until_sent_or_their_lease_ends(state):
    a, b = Store(state), Store(state)
    try:
        a.ensure_source("wire", "https://e.org/feed")
        planned = [
            Planned(_story(n), deliveries=(Delivery("desk", "stdout", "t", "b"),)) for n in range(3)
        ]
        a.record_poll("wire", planned, etag=None, last_modified=None, next_check_at=10.0, now=1.0)
        mine = a.claim_deliveries(now=5.0, lease_seconds=60)
        assert len(mine) == 3 and b.claim_deliveries(now=5.0, lease_seconds=60) == []
        a.mark_sent([mine[0].id])
        a.mark_failed([mine[1].id], "down", next_attempt_at=6.0)  # released, due again at 6
        assert [r.id for r in b.claim_deliveries(now=6.0, lease_seconds=60)] == [mine[1].id]
        # the third row's holder died: once its lease is over another replica sends it
        a.claim_deliveries(now=6.0, lease_seconds=-1)
        assert mine[2].id in [r.id for r in b.claim_deliveries(now=6.0, lease_seconds=60)]
    finally:
        a.close()
        b.close()


def test_skip_locked_a_row_locked_by_another_transaction_is_passed_over_not_waited_for(pg_url):
    store = Store(pg_url)
    try:
        for name in ("a", "b"):
            store.ensure_source(name, f"https://e.org/{name}")
        with psycopg.connect(
            pg_url
        ) as other:  # holds the row lock of source 'a' in an open transaction
            other.execute("SELECT 1 FROM sources WHERE name='a' FOR UPDATE")
            assert set(store.claim_sources(["a", "b"], now=0.0, lease_seconds=60)) == {"b"}
            other.rollback()
        assert set(store.claim_sources(["a", "b"], now=0.0, lease_seconds=60)) == {
            "a",
            "b",
        }  # own leases
    finally:
        store.close()


def test_a_cut_connection_is_reopened_and_an_interrupted_transaction_leaves_nothing(
    pg_server, pg_url
):
    from monitor.store import StoreUnavailable

    store = Store(pg_url)
    try:
        store.ensure_source("wire", "https://e.org/feed")
        assert pg_server.cut_connections(pg_url) == 1
        assert store.source_state("wire") is not None  # a read outside a transaction reconnects
        planned = [Planned(_story(1))]
        with pytest.raises(StoreUnavailable):
            with store._tx() as db:
                db.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
                pg_server.cut_connections(pg_url)
                db.execute("SELECT 1")
        assert store.get_meta("x") is None
        store.record_poll("wire", planned, etag=None, last_modified=None, next_check_at=1.0)
        assert store.known_keys("wire", ["k1"]) == {"k1"}
    finally:
        store.close()


def _downgrade_to_schema_3(store: Store) -> None:
    """The tables as the previous release (schema 3) left them."""
    for table, column in (
        ("sources", "lease_owner"),
        ("sources", "lease_until"),
        ("sources", "lease_token"),
        ("outbox", "lease_owner"),
        ("outbox", "lease_until"),
    ):
        store.db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    store.db.execute("DROP TABLE story_vectors")  # schema 5
    store.db.execute("DROP TABLE verdicts")  # schema 6
    store.db.execute("UPDATE meta SET value='3' WHERE key='schema_version'")


def test_a_store_of_the_previous_release_is_upgraded_in_place(state):
    old = Store(state)
    old.ensure_source("wire", "https://e.org/feed")
    old.record_poll(
        "wire",
        [Planned(_story(1), deliveries=(Delivery("desk", "stdout", "t", "b"),))],
        etag="e1",
        last_modified=None,
        next_check_at=10.0,
        now=1.0,
    )
    _downgrade_to_schema_3(old)
    old.close()
    store = Store(state)
    try:
        assert store.schema_version == SCHEMA_VERSION == 7
        assert store.source_state("wire").etag == "e1" and store.outbox_counts()["pending"] == 1
        assert set(store.claim_sources(["wire"], now=20.0, lease_seconds=60)) == {"wire"}
        assert len(store.claim_deliveries(now=20.0, lease_seconds=60)) == 1
    finally:
        store.close()


def test_replicas_starting_together_migrate_once(pg_url):
    stores: list[Store] = []
    errors: list[BaseException] = []

    def open_one():
        try:
            stores.append(Store(pg_url))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (
        not errors and len(stores) == 4 and all(s.schema_version == SCHEMA_VERSION for s in stores)
    )
    for s in stores:
        s.close()


def _config(tmp_path: Path, state, sources: list[dict], hook: str) -> Config:
    (tmp_path / "rules.yaml").write_text(RULE, encoding="utf-8")
    return Config.model_validate(
        {
            "state": state,
            "rules": tmp_path / "rules.yaml",
            "channels": {"desk": {"urls": [hook]}},
            "sources": sources,
            "fetch": {"per_host_delay": 0, "deadline": 5},
        }
    )


def test_two_monitors_on_one_database_poll_each_source_once_and_alert_once(
    tmp_path, pg_url, http_server, webhook
):
    feeds = {f"f{i}": [(f"{i}-0", "Council budget", f"https://e.org/{i}/0")] for i in range(6)}
    for name, items in feeds.items():
        http_server.add(f"/{name}.xml", rss_doc(items), content_type="application/rss+xml")
    sources = [
        {"name": n, "kind": "rss", "url": http_server.url(f"/{n}.xml"), "interval": "1h"}
        for n in feeds
    ]
    config = _config(tmp_path, pg_url, sources, webhook.url())
    ruleset, problems = load_rules(config.rule_paths)
    assert not problems
    a, b = Monitor(config, ruleset), Monitor(config, ruleset)
    try:
        first = a.cycle()  # takes every due source: baseline
        assert len(first.polls) == 6 and b.cycle().polls == []
        http_server.clear_log()
        for name, items in feeds.items():  # a matching story on every feed
            items.append(
                (f"{name}-1", f"Police expand facial recognition {name}", f"https://e.org/{name}/1")
            )
            http_server.add(f"/{name}.xml", rss_doc(items), content_type="application/rss+xml")
        for mon in (a, b):
            mon.store.db.execute("UPDATE sources SET next_check_at=0")
        # claiming at the same moment from two threads: SKIP LOCKED splits them
        outcomes = []
        threads = [threading.Thread(target=lambda m=m: outcomes.append(m.cycle())) for m in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        polled = [p.source for o in outcomes for p in o.polls]
        assert sorted(polled) == sorted(feeds)  # each source once, by one replica or the other
        assert all(len(http_server.requests_to(f"/{n}.xml")) == 1 for n in feeds)
        titles = sorted(p["title"] for p in webhook.posts)
        assert len(titles) == 6 and len(set(titles)) == 6  # every alert once
    finally:
        a.close()
        b.close()


def _monitor_cli(*args: str, cwd: Path, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def _project(tmp_path: Path, state: str) -> Path:
    (tmp_path / "rules.yaml").write_text(RULE, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        textwrap.dedent(f"""\
        state: {state}
        rules: ./rules.yaml
        """),
        encoding="utf-8",
    )
    return cfg


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path):
    cfg = _project(tmp_path, "postgresql://monitor@127.0.0.1:9/monitor")
    for cmd in (["once"], ["status"]):
        out = _monitor_cli(*cmd, "--config", str(cfg), cwd=tmp_path)
        assert out.returncode == 2, out.stdout + out.stderr
        errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in out.stderr, out.stderr
        assert errors[0].startswith("error: state:") and "127.0.0.1" in errors[0]


def test_a_state_url_of_another_kind_is_one_line_with_the_line_number(tmp_path):
    cfg = _project(tmp_path, "mysql://monitor@db/monitor")
    out = _monitor_cli("check", "--config", str(cfg), cwd=tmp_path)
    assert out.returncode == 1
    assert out.stdout.strip().splitlines() == [
        # run in the config's folder: its path is printed as typed there
        "config.yaml:1:1: state: expected a file path or a postgresql:// URL, not a 'mysql://' URL"
    ], out.stdout


def test_a_database_password_missing_from_the_environment_is_named(tmp_path):
    cfg = _project(tmp_path, "postgresql://monitor:${MONITOR_DB_PASSWORD}@db:5432/monitor")
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_DB_PASSWORD"}
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert (
        out.returncode == 1
        and "MONITOR_DB_PASSWORD" in out.stdout
        and "Traceback" not in out.stderr
    )


def test_the_password_of_a_database_url_never_reaches_the_log(tmp_path, pg_server):
    # trust authentication ignores the password, so the monitor starts with it
    state = pg_server.new_database().replace("postgres@", "postgres:${MONITOR_DB_PASSWORD}@")
    cfg = _project(tmp_path, state)
    out = _monitor_cli(
        "once", "--config", str(cfg), cwd=tmp_path, env={"MONITOR_DB_PASSWORD": "s3cret-pw"}
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "s3cret-pw" not in out.stdout + out.stderr


def test_several_processes_on_one_sqlite_file_do_not_corrupt_it(tmp_path, http_server):
    for i in range(6):
        http_server.add(
            f"/f{i}.xml",
            rss_doc([(f"{i}-{n}", f"Story {n}", f"https://e.org/{i}/{n}") for n in range(20)]),
            content_type="application/rss+xml",
        )
    (tmp_path / "rules.yaml").write_text(RULE, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "state: ./state.db\nrules: ./rules.yaml\nfetch: {per_host_delay: 0}\nsources:\n"
        + "".join(
            f'  - {{name: f{i}, kind: rss, url: "{http_server.url(f"/f{i}.xml")}"}}\n'
            for i in range(6)
        ),
        encoding="utf-8",
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "monitor", "once", "--config", str(cfg)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    import sqlite3

    db = sqlite3.connect(tmp_path / "state.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT source || key) FROM stories"
        ).fetchone() == (120, 120)
    finally:
        db.close()
