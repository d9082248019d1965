"""Hot reload: rule files and the config's sources and channels, picked up
without a restart.

The loop asks `Reloader.check()` while it sleeps between cycles. A reload is
due when SIGHUP asked for one (`request()`), or, with `reload.watch` on,
when any watched file (the config file, every rule file, the rule folders'
listings) changed its size or modification time. A reload reads and
validates everything first; only a config and rule set with no problem at
all replace the running ones. Otherwise each problem is logged as one line
naming file:line (`event=reload.rejected problem="rules/x.yaml:4:7: ..."`),
the last good set keeps running, and /healthz and `monitor status` report
the failed reload until a later one succeeds.

Applied on reload: rules, sources, channels, fetch, delivery and reload
settings. `state`, `http` and `log` keep their values until a restart (a
warning says so).
"""

from __future__ import annotations

import threading
from pathlib import Path

from . import log
from .checks import Reloadable, load_checked_rules
from .config import Config, ConfigError, load_config
from .engine import RuleSet
from .yamlfile import FileError

RESTART_KEYS = ("state", "http", "log")


def watched_files(config: Config) -> list[Path]:
    files: list[Path] = [config.path] if config.path else []
    for p in config.rule_paths:
        p = Path(p)
        if p.is_dir():
            files.append(p)  # its listing: a file added or removed
            files.extend(sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml")))
            # list files that rule files include may sit in subfolders
            files.extend(
                sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml") and x.parent != p)
            )
        else:
            files.append(p)
    return files


def signature(files: list[Path]) -> tuple:
    out: list[tuple[str, int | None, int | None]] = []
    for f in files:
        try:
            st = f.stat()
            out.append((str(f), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(f), None, None))
    return tuple(out)


class Reloader:
    def __init__(self, monitor: Reloadable):
        self.monitor = monitor
        self.requested = threading.Event()
        self._signature = signature(watched_files(monitor.config))
        self._reading: _Read | None = None

    @property
    def tick(self) -> float:
        """How long the loop may sleep before calling check() again."""
        if self._reading is not None:
            return 0.1  # a read under way: apply it soon after it ends
        settings = self.monitor.config.reload
        return settings.interval if settings.watch else 1.0

    @property
    def reading(self) -> bool:
        """A reload's files are being read and checked."""
        return self._reading is not None

    def request(self) -> None:
        """Ask for a reload at the next check (the SIGHUP handler)."""
        self.requested.set()

    def changed(self) -> bool:
        now = signature(watched_files(self.monitor.config))
        if now != self._signature:
            self._signature = now
            return True
        return False

    def check(self, wait: float = 30.0) -> bool:
        """Reload when asked or when a watched file changed; True when a new
        config and rule set were applied.

        The files are read and checked on a thread of their own, so a large
        or hostile file never holds the loop: this waits at most `wait`
        seconds for the read (the loop passes 0), and a read still under
        way is applied, on the caller's thread, by a later check."""
        if self._reading is None:
            asked = self.requested.is_set()
            self.requested.clear()
            changed = self.monitor.config.reload.watch and self.changed()
            if not (asked or changed):
                return False
            self._reading = self._start("signal" if asked else "files changed")
        if not self._reading.done.wait(max(wait, 0.0)):
            return False
        read, self._reading = self._reading, None
        return self._apply(read)

    def reload(self, why: str = "request") -> bool:
        """Read, check and apply now, on this thread."""
        read = _Read(why, self.monitor.config)
        self._signature = signature(watched_files(read.old))
        read.run()
        return self._apply(read)

    def _start(self, why: str) -> _Read:
        read = _Read(why, self.monitor.config)
        # Remember what is read now, so a change written while we read is seen next time.
        self._signature = signature(watched_files(read.old))
        threading.Thread(target=read.run, name="reload", daemon=True).start()
        return read

    def _apply(self, read: _Read) -> bool:
        mon, why, old = self.monitor, read.why, read.old
        if mon.config is not old:  # applied by another way meanwhile: read again
            return self.reload(why)
        problems, new, ruleset = read.problems, read.new, read.ruleset
        if problems or ruleset is None:
            for p in problems:
                log.event("reload.rejected", level="error", why=why, problem=str(p))
            mon.record_reload(False, [str(p) for p in problems])
            return False
        restart = [k for k in RESTART_KEYS if getattr(new, k) != getattr(old, k)]
        if restart:
            log.event(
                "reload.restart_needed",
                level="warning",
                keys=",".join(restart),
                note="these settings apply at the next start",
            )
            new = new.model_copy(update={k: getattr(old, k) for k in restart})
        for warning in new.warnings:
            log.event("channel.disabled", level="warning", problem=warning)
        mon.apply(new, ruleset)
        # recorded first: a reader that sees reload.done sees the start
        # problems cleared too
        mon.record_reload(True, [])
        log.event(
            "reload.done",
            why=why,
            rules=len(ruleset.rules),
            sources=len(mon.sources),
            channels=",".join(mon.dests),
        )
        return True


class _Read:
    """One reload's reading and checking of the files: no state of the
    monitor is touched, so it may run on any thread."""

    def __init__(self, why: str, old: Config):
        self.why = why
        self.old = old
        self.new = old
        self.ruleset: RuleSet | None = None
        self.problems: list[FileError | str] = []
        self.done = threading.Event()

    def run(self) -> None:
        try:
            if self.old.path is not None:
                try:
                    self.new = load_config(self.old.path)
                except ConfigError as e:
                    self.problems.extend(e.errors)
                    return
            ruleset, rule_problems = load_checked_rules(self.new)
            self.problems.extend(rule_problems)
            if not rule_problems and not ruleset.rules:
                self.problems.append("no rule could be loaded; the rules in use stay")
            self.ruleset = ruleset
        except Exception as e:  # a bug in reading must not leave the loop waiting
            self.problems.append(f"reload failed: {type(e).__name__}: {e}")
        finally:
            self.done.set()
