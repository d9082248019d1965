"""Hot reload reads and checks the files on a thread of its own: while a
reload is being read (a large or hostile file), the loop goes on with the
rules it has, stops when asked, and applies the new set once it is read."""

from __future__ import annotations

import threading

from test_operations import logbuf, project, start  # noqa: F401  (logbuf is a fixture)

import monitor.reload


def test_a_slow_read_does_not_hold_the_loop(tmp_path, http_server, logbuf, monkeypatch):  # noqa: F811
    cfg = project(tmp_path, http_server)
    mon = start(cfg)
    release = threading.Event()
    readers: list[str] = []
    real = monitor.reload.load_checked_rules

    def slow(config):
        readers.append(threading.current_thread().name)
        release.wait(30)
        return real(config)

    monkeypatch.setattr(monitor.reload, "load_checked_rules", slow)
    try:
        (tmp_path / "rules" / "more.yaml").write_text(
            "rules:\n  - id: data-leak\n    title: Data leak\n    match: [leaked]\n",
            encoding="utf-8",
        )
        assert mon.reloader.check(wait=0) is False  # the read started, and is held
        assert mon.reloader.reading
        # The loop goes on meanwhile: a cycle with the rules in use, and an
        # idle spell that ends (the loop's own check does not wait either).
        out = mon.cycle(mon.sources)
        assert [p.ok for p in out.polls] == [True]
        mon._idle(0.3)
        assert [r.id for r in mon.rules.rules] == ["face-recognition"]
        assert readers == ["reload"]

        release.set()
        assert mon.reloader.check(wait=10) is True
        assert not mon.reloader.reading
        assert sorted(r.id for r in mon.rules.rules) == ["data-leak", "face-recognition"]
        assert "event=reload.done" in logbuf.getvalue()
    finally:
        release.set()
        mon.close()


def test_a_stop_is_seen_while_a_reload_is_read(tmp_path, http_server, logbuf, monkeypatch):  # noqa: F811
    cfg = project(tmp_path, http_server)
    mon = start(cfg)
    release = threading.Event()
    monkeypatch.setattr(
        monitor.reload, "load_checked_rules", lambda config: release.wait(30) and None
    )
    try:
        mon.reloader.request()
        assert mon.reloader.check(wait=0) is False
        idle = threading.Thread(target=mon._idle, args=(600,))
        idle.start()
        mon.stop.set()
        idle.join(10)
        assert not idle.is_alive()  # the idle loop left on stop, the read still held
        assert mon.reloader.reading
    finally:
        release.set()
        mon.close()


def test_a_read_that_fails_is_a_rejected_reload_not_a_dead_loop(
    tmp_path,
    http_server,
    logbuf,  # noqa: F811
    monkeypatch,
):
    cfg = project(tmp_path, http_server)
    mon = start(cfg)

    def broken(config):
        raise RuntimeError("disk went away")

    monkeypatch.setattr(monitor.reload, "load_checked_rules", broken)
    try:
        mon.reloader.request()
        assert mon.reloader.check() is False
        assert not mon.reloader.reading
        assert [r.id for r in mon.rules.rules] == ["face-recognition"]
        assert "reload failed: RuntimeError: disk went away" in logbuf.getvalue()
        assert mon.health()[1]["reload"]["ok"] is False
    finally:
        mon.close()
