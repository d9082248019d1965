"""The cyclic collector is held during a program's start-up and back on
once its command has started; a test that imports the package keeps its
own collector untouched."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main, startup

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def collector():
    was = gc.isenabled()
    yield
    startup._held.clear()
    gc.unfreeze()
    (gc.enable if was else gc.disable)()


def test_hold_then_done_freezes_what_start_up_built_and_collects_again(collector):
    gc.enable()
    startup.hold()
    assert not gc.isenabled()
    kept = [object() for _ in range(1000)]
    startup.done()
    assert gc.isenabled() and gc.get_freeze_count() >= len(kept)
    startup.done()  # a second call changes nothing
    assert gc.isenabled()


def test_done_without_hold_leaves_the_collector_alone(collector):
    gc.disable()
    startup.done()
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def test_a_command_run_in_process_does_not_touch_the_collector(collector, tmp_path, capsys):
    gc.enable()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"rules: {ROOT / 'rules'}\nsources: []\n")
    assert main(["check", "--config", str(cfg)]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_the_program_collects_again_once_its_command_has_started(tmp_path):
    # Imported as the `monitor` program imports it: held from the start.
    probe = (
        "import gc, sys; sys.argv[0] = 'monitor'; import monitor.cli as c; "
        "held = not gc.isenabled(); c.startup.done(); "
        "print(held, gc.isenabled(), gc.get_freeze_count() > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["True", "True", "True"]


HEAVY = (
    "apprise",
    "bs4",
    "croniter",
    "feedparser",
    "flask",
    "lxml.etree",
    "lxml.html",
    "requests",
    "trafilatura",
)


def imported_by(tmp_path, *argv: str) -> list[str]:
    """The heavy libraries a command run in a fresh interpreter imported."""
    probe = (
        "import sys\n"
        "from monitor.cli import main\n"
        f"main({list(argv)!r})\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    return out.stdout.splitlines()[-1].split()


def test_check_without_channels_imports_no_sender_parser_or_http_client(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"rules: {ROOT / 'rules'}\nsources:\n"
        "  - {name: a, kind: rss, url: 'http://a.example/feed.xml'}\n"
        "  - {name: t, kind: telegram, channel: privacy_news}\n"
    )
    assert imported_by(tmp_path, "check", "--config", str(cfg)) == []


def test_once_with_nothing_to_send_imports_at_most_its_http_client(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"state: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\nsources:\n"
        "  - {name: a, kind: rss, enabled: false, url: 'http://a.example/feed.xml'}\n"
    )
    # the HTTP client is the fetcher's choice; nothing else heavy is loaded
    assert set(imported_by(tmp_path, "once", "--config", str(cfg))) <= {"requests"}
