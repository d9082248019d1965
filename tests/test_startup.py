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
