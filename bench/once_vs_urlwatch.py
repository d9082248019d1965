"""`monitor once` against urlwatch 2.29, both run as their users run them.

    python bench/once_vs_urlwatch.py                  # 200 and 2,000 feeds, best of 3
    python bench/once_vs_urlwatch.py --feeds 500 --repeat 1
    python bench/once_vs_urlwatch.py --urlwatch-venv DIR   # reuse an install

The farm of bench/farm.py (asyncio on loopback, keep-alive, bodies built
before the clock starts, ETag and 304) serves N RSS feeds of 20 items on one
host. Each program runs as a fresh process per phase, start-up included:

  cold      the first poll, with empty state: every feed answers 200
  all-304   the second poll: every feed answers 304 Not Modified
  changed   every feed has one new item (one in ten matches the shipped
            rules); the monitor stores, matches and prints its alerts,
            urlwatch prints its diffs
  start-up  what each run pays before its first fetch, at the same size:
            the monitor runs `monitor once` on the same config with every
            source `enabled: false` (config, rules and state loaded, nothing
            polled); urlwatch runs `--list` on the same jobs file

The table gives each phase's time per feed gross and net of the start-up
row (the phase minus start-up, per feed): what the issue's "time per feed
flat from 200 to 2,000 feeds" is about, without the fixed cost spread over
the feeds.

The monitor gets a config of N rss sources, the shipped rules, a SQLite
state file and `fetch: {per_host_delay: 0, per_host_concurrency: 10,
workers: 10}` (urlwatch runs ten fetch threads). urlwatch is installed by
this script into a throwaway virtual environment (from the package index
pip is configured for), with a jobs file of url jobs and its cache in a
temporary folder. Output of both goes to files, not a terminal.

Both run from compiled bytecode, as installed programs do: pip compiled
urlwatch's when it installed it, and the monitor's modules are compiled
into a bytecode folder in the temporary folder before the clock starts
(PYTHONDONTWRITEBYTECODE, when set, would otherwise have the monitor
compile its sources again in every run). Before each round's clock starts,
one untimed `monitor once` of ten feeds (own state) compiles every other
module a poll imports into that folder, and `monitor check` of both configs
fills the YAML cache, so that no timed run pays either (see warm_up).

The two programs take turns, a whole sequence each per round, so that both
meet the same load; each figure is the best of --repeat rounds (the machine
is shared and single runs are slowed by other work). Peak RSS is each
process's own (wait4), the largest over its runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FARM = Path(__file__).resolve().parent / "farm.py"
URLWATCH = "urlwatch==2.29"
PHASES = ("cold", "all-304", "changed")
STARTUP = "start-up"
STEPS = (*PHASES, STARTUP)


def start_farm(n: int, tmp: Path) -> tuple[subprocess.Popen, str]:
    port_file = tmp / "port"
    server = subprocess.Popen(
        [sys.executable, str(FARM), "--serve", str(n), "--port-file", str(port_file)]
    )
    while not port_file.exists() or not port_file.read_text():
        if server.poll() is not None:
            raise SystemExit("farm server did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port_file.read_text()}"


def bump(base: str) -> None:
    urllib.request.urlopen(base + "/bump").read()


def timed(cmd: list[str], env: dict, out: Path) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds (user + system), peak RSS in MB and exit
    status of one process."""
    with out.open("ab") as f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024.0, proc.returncode


# -- the monitor ---------------------------------------------------------------


def compile_monitor(pycache: Path) -> dict:
    """The environment the monitor runs in: its modules compiled once into
    `pycache`, before any clock starts, and its cache folder (the config
    read before) beside it, filled by the first run as a user's is."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MONITOR_NO_PROGRESS="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["XDG_CACHE_HOME"] = str(pycache.parent / "cache")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "monitor")], env=env, check=True
    )
    return env


def monitor_config(
    n: int, base: str, work: Path, enabled: bool = True, name: str | None = None
) -> Path:
    lines = [
        f"state: {work / 'state.db'}",
        f"rules: {ROOT / 'rules'}",
        "fetch: {per_host_delay: 0, per_host_concurrency: 10, workers: 10}",
        "sources:",
    ]
    off = "" if enabled else " enabled: false,"
    for i in range(n):
        lines.append(f"  - {{name: outlet-{i}, kind: rss,{off} url: '{base}/feed/{i}.xml'}}")
    config = work / (name or ("config.yaml" if enabled else "config-off.yaml"))
    config.write_text("\n".join(lines) + "\n")
    return config


def warm_up(configs: list[Path], base: str, work: Path, env: dict) -> None:
    """What an installed program has before its first run, done before the
    clock starts: every module a poll imports compiled into the bytecode
    folder (one `monitor once` of ten feeds with a state of its own; the
    compileall above covers the monitor's modules only, not the standard
    library's or the dependencies'), and the YAML cache holding the configs
    and rules, as after `monitor check`. Without it the first timed run of
    a size paid both, and the start-up row (run last) neither."""
    spare = work / "warm-up"
    spare.mkdir()
    runs = [["once", "--config", str(monitor_config(10, base, spare))]]
    runs += [["check", "--config", str(c)] for c in configs]
    for args in runs:
        subprocess.run(
            [sys.executable, "-m", "monitor", *args],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def monitor_setup(n: int, base: str, work: Path) -> tuple[dict[str, list[str]], dict]:
    once = [sys.executable, "-m", "monitor", "once", "--config"]
    configs = [monitor_config(n, base, work), monitor_config(n, base, work, enabled=False)]
    cmds = dict.fromkeys(PHASES, once + [str(configs[0])])
    cmds[STARTUP] = once + [str(configs[1])]
    env = compile_monitor(work.parent / "pycache")
    warm_up(configs, base, work, env)
    return cmds, env


# -- urlwatch ------------------------------------------------------------------


def install_urlwatch(where: Path) -> Path:
    exe = where / "bin" / "urlwatch"
    if exe.exists():
        return exe
    print(f"installing {URLWATCH} into a throwaway environment ...", flush=True)
    venv.create(where, with_pip=True)
    subprocess.run(
        [str(where / "bin" / "pip"), "install", "-q", URLWATCH],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return exe


def urlwatch_setup(exe: Path, n: int, base: str, work: Path) -> tuple[dict[str, list[str]], dict]:
    jobs = work / "urls.yaml"
    jobs.write_text(
        "\n---\n".join(f"name: outlet-{i}\nurl: {base}/feed/{i}.xml" for i in range(n)) + "\n"
    )
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [
        str(exe),
        "--urls",
        str(jobs),
        "--config",
        str(work / "urlwatch.yaml"),
        "--hooks",
        str(work / "hooks.py"),
        "--cache",
        str(work / "cache.db"),
    ]
    cmds = dict.fromkeys(PHASES, cmd)
    cmds[STARTUP] = cmd + ["--list"]
    return cmds, env


# -- one size ------------------------------------------------------------------


def run_sequence(
    name: str, setup: Callable, n: int, base: str, work: Path
) -> tuple[dict[str, float], float]:
    """One program's three phases on fresh state, then its start-up: wall
    seconds per step, peak RSS."""
    work.mkdir()
    cmds, env = setup(n, base, work)
    walls: dict[str, float] = {}
    peak = 0.0
    for step in STEPS:
        if step == "changed":
            bump(base)
        wall, cpu, rss, rc = timed(cmds[step], env, work / f"{step}.out")
        if rc != 0:
            tail = (work / f"{step}.out").read_text(errors="replace")[-2000:]
            raise SystemExit(f"{name} {step} exited {rc}:\n{tail}")
        walls[step] = wall
        peak = max(peak, rss)
        print(
            f"  {name:<8} {n:>5} feeds  {step:<8} {wall:6.2f} s  cpu {cpu:6.2f} s  "
            f"peak RSS {rss:5.1f} MB",
            flush=True,
        )
    return walls, peak


def check_outputs(n: int, tmp: Path) -> None:
    """Both programs saw every feed: a figure from a run that failed is no
    figure. The monitor's `once.done` line counts failed sources; its
    start-up run polls none."""
    for out in sorted(tmp.glob("monitor-*/*.out")):
        text = out.read_text(errors="replace")
        expected = "sources=0 failed=0" if out.stem == STARTUP else f"sources={n} failed=0"
        if expected not in text:
            raise SystemExit(f"monitor run {out.parent.name}/{out.name} did not poll all feeds")


def run_size(n: int, exe: Path | None, repeat: int) -> dict:
    """The two programs take turns, one whole sequence each per round, so
    both meet the same load on a shared machine; the best of the rounds is
    kept for each phase."""
    programs: list[tuple[str, Callable[[int, str, Path], tuple[dict[str, list[str]], dict]]]] = [
        ("monitor", monitor_setup)
    ]
    if exe is not None:
        programs.append(("urlwatch", lambda n, b, w: urlwatch_setup(exe, n, b, w)))
    best = {name: dict.fromkeys(STEPS, float("inf")) for name in ("monitor", "urlwatch")}
    peak = {"monitor": 0.0, "urlwatch": 0.0}
    with tempfile.TemporaryDirectory(prefix="once-vs-urlwatch-") as t:
        tmp = Path(t)
        farm, base = start_farm(n, tmp)
        try:
            for r in range(repeat):
                for name, setup in programs:
                    walls, rss = run_sequence(name, setup, n, base, tmp / f"{name}-{r}")
                    for phase, wall in walls.items():
                        best[name][phase] = min(best[name][phase], wall)
                    peak[name] = max(peak[name], rss)
            check_outputs(n, tmp)
        finally:
            farm.terminate()
            farm.wait()
    return {
        "monitor": best["monitor"],
        "urlwatch": best["urlwatch"],
        "monitor_rss": peak["monitor"],
        "urlwatch_rss": peak["urlwatch"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--feeds", type=int, action="append", help="farm size (default 200 and 2000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    ap.add_argument("--urlwatch-venv", type=Path, help="install urlwatch here and keep it")
    ap.add_argument(
        "--monitor-only", action="store_true", help="leave urlwatch out (no ratios; for profiling)"
    )
    args = ap.parse_args()
    sizes = args.feeds or [200, 2000]
    print(f"once vs urlwatch: {os.cpu_count()} CPUs, best of {args.repeat}, 20 items per feed")
    with tempfile.TemporaryDirectory(prefix="urlwatch-venv-") as vt:
        exe = (
            None if args.monitor_only else install_urlwatch(args.urlwatch_venv or Path(vt) / "venv")
        )
        results = {n: run_size(n, exe, args.repeat) for n in sizes}
    targets = {"cold": 4.0, "all-304": 10.0, "changed": 4.0}
    print()
    print(
        "| feeds | phase | monitor | ms/feed | net ms/feed | urlwatch | ms/feed | net ms/feed "
        "| ratio | target |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, res in results.items():
        mine, theirs = res["monitor"], res["urlwatch"]
        for phase in PHASES:
            m, u = mine[phase], theirs[phase]
            ours = f"{m:.2f} s | {m / n * 1000:.2f} | {(m - mine[STARTUP]) / n * 1000:.2f}"
            other = (
                f"{u:.2f} s | {u / n * 1000:.2f} | {(u - theirs[STARTUP]) / n * 1000:.2f} "
                f"| {u / m:.1f}x"
                if exe
                else "- | - | - | -"
            )
            print(f"| {n} | {phase} | {ours} | {other} | >= {targets[phase]:g}x |")
        m, u = mine[STARTUP], theirs[STARTUP]
        other = f"{u:.2f} s | | | {u / m:.1f}x" if exe else "- | | | -"
        print(f"| {n} | {STARTUP} | {m:.2f} s | | | {other} | |")
        their_rss = f"{res['urlwatch_rss']:.1f} MB" if exe else "-"
        print(
            f"| {n} | peak RSS | {res['monitor_rss']:.1f} MB | | | {their_rss} | | | | <= 80 MB |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
