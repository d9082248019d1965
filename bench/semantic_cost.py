"""What a semantic rule costs: embedding throughput, and `monitor once`
over a feed farm with and without one semantic rule enabled.

    python bench/semantic_cost.py [--feeds 200] [--stories 300]

Needs the semantic extra. Every process is held to one core's worth of
BLAS threads (OMP/OPENBLAS/MKL_NUM_THREADS=1).

1. **embedding**: `--stories` generated stories the length of a real
   headline and lede (two thirds English, about 80 words; one third
   Chinese, about 170 characters) embedded in the monitor's batches; CPU
   seconds and stories per CPU second, after the encoder is loaded (its
   load time is printed apart).
2. **monitor once**, run as a user runs it, against the farm of
   bench/farm.py (`--feeds` RSS feeds of 20 items): a first run is the
   baseline (stories stored, none embedded), then every feed gets one new
   story and a second run matches them. Each configuration runs in a
   fresh state: the shipped rules alone, then the shipped rules plus
   rules/semantic with `data-leak-semantic` enabled. For each: CPU seconds
   of each run, peak RSS, stories embedded (rows kept in the store), and
   the added CPU per new story against the keyword-only run.

Figures move with the machine's load; CPU time is steadier than wall time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
os.environ.update(ONE_CORE)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EN = (
    "police city council data breach records customers hackers cameras faces privacy court "
    "judge school students hospital patients bank account passwords phone app users location "
    "company report officials said on monday new law ministry public transport station market "
    "election budget week government minister agency security researchers found exposed online "
    "database million names addresses emails sold forum investigation fine regulator million"
).split()
ZH = "警方数据泄露客户信息黑客摄像头人脸识别隐私法院学校学生医院患者银行账户密码手机应用用户位置公司报告官员表示周一新法规交通车站市场选举预算政府部门安全研究人员发现网上数据库姓名地址出售调查罚款监管"


def stories(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 3 == 2:
            title = "".join(rng.choice(ZH) for _ in range(16))
            body = "".join(rng.choice(ZH) for _ in range(150)) + "。"
        else:
            title = " ".join(rng.choice(EN) for _ in range(11)).capitalize()
            body = " ".join(rng.choice(EN) for _ in range(70)).capitalize() + "."
        out.append(title + "\n" + body)
    return out


def embedding(n: int) -> float:
    from monitor.semantic import encoder

    c0 = time.process_time()
    encoder.embed(["warm up"])  # loads the encoder
    load = time.process_time() - c0
    texts = stories(n)
    c0 = time.process_time()
    encoder.embed(texts)
    cpu = time.process_time() - c0
    print(f"encoder {encoder.encoder_id()}: load {load:.2f} CPU s")
    print(
        f"embedding: {n} stories in {cpu:.2f} CPU s = {n / cpu:.0f} stories per CPU second "
        f"({cpu / n * 1000:.1f} ms a story)"
    )
    return load


def run_once(config: Path) -> tuple[float, float, float]:
    """CPU s, wall s and peak RSS MB of one `monitor once`, as its own process."""
    env = {**os.environ, **ONE_CORE}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from monitor.cli import main; sys.exit(main())"]
        + ["once", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=config.parent,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: some matches could not be delivered (there are no channels)
        sys.exit(f"monitor once exited {code}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024.0


def farm(feeds: int, load: float) -> None:
    import sqlite3
    import urllib.request

    with tempfile.TemporaryDirectory(prefix="semantic-cost-") as tmp:
        tmpdir = Path(tmp)
        port_file = tmpdir / "port"
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "farm.py"), "--serve", str(feeds)]
            + ["--port-file", str(port_file)]
        )
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.05)
            base = f"http://127.0.0.1:{port_file.read_text()}"
            results = {}
            for label in ("keyword rules", "+ one semantic rule"):
                work = tmpdir / label.replace(" ", "-").replace("+", "plus")
                rules = work / "rules"
                shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("semantic"))
                paths = ["./rules"]
                if label.startswith("+"):
                    sem = work / "semantic"
                    shutil.copytree(ROOT / "rules" / "semantic", sem)
                    text = (sem / "semantic.yaml").read_text(encoding="utf-8")
                    at = text.index("- id: data-leak-semantic")
                    head, tail = text[:at], text[at:]
                    tail = tail.replace("enabled: false", "enabled: true", 1)
                    (sem / "semantic.yaml").write_text(head + tail, encoding="utf-8")
                    paths.append("./semantic")
                sources = "".join(
                    f"  - {{name: outlet-{i}, kind: rss, url: '{base}/feed/{i}.xml'}}\n"
                    for i in range(feeds)
                )
                config = work / "config.yaml"
                config.write_text(
                    f"state: ./state.db\nrules: [{', '.join(paths)}]\n"
                    "fetch: {workers: 8, per_host_concurrency: 8, per_host_delay: 0}\n"
                    f"sources:\n{sources}",
                    encoding="utf-8",
                )
                first = run_once(config)
                urllib.request.urlopen(base + "/bump").read()
                second = run_once(config)
                db = sqlite3.connect(work / "state.db")
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
                kept = (
                    db.execute("SELECT COUNT(*) FROM story_vectors").fetchone()[0]
                    if "story_vectors" in tables
                    else 0
                )
                db.close()
                results[label] = (first, second, kept)
                print(
                    f"{label:<20} baseline run: CPU {first[0]:6.2f} s  wall {first[1]:6.2f} s  "
                    f"peak RSS {first[2]:6.1f} MB | one-new run: CPU {second[0]:6.2f} s  "
                    f"wall {second[1]:6.2f} s  peak RSS {second[2]:6.1f} MB | vectors kept {kept}",
                    flush=True,
                )
            base_cpu = results["keyword rules"][1][0]
            sem_cpu = results["+ one semantic rule"][1][0]
            print(
                f"added CPU per new story with one semantic rule: "
                f"{(sem_cpu - base_cpu) / feeds * 1000:.1f} ms ({feeds} new stories, with the "
                f"encoder's load once per process); "
                f"{(sem_cpu - base_cpu - load) / feeds * 1000:.1f} ms without it"
            )
        finally:
            server.terminate()
            server.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--stories", type=int, default=300)
    args = ap.parse_args()
    print(f"semantic cost: {os.cpu_count()} CPUs, BLAS held to one thread")
    load = embedding(args.stories)
    farm(args.feeds, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
