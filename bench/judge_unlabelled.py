"""Precision on news nobody labelled: sample what the rules flag, judge it by hand, count.

    python bench/judge_unlabelled.py sample ITEMS.jsonl [...] --rules NEW [--before OLD]
        --out SHEET.jsonl [--seed 20261202] [--fires 150] [--quiet 40] [--skip SHEET ...]
    python bench/judge_unlabelled.py count SHEET.jsonl

A labelled set runs out: once a check half has been scored it is spent.
Unlabelled news does not run out. `sample` runs one or two rule folders
over JSON Lines files with `title` and `summary` (and optionally `id`,
`body`, `lang`, `source`; `labels` is not needed) and prints, per file,
the items and the stories each tag flags, and the items per second of each
folder in the same run. It then writes a judging sheet: a seeded random
sample of the stories either folder flags, and a sample of "quiet" stories
that hold a topic word (leak, breach, hack, biometric, 泄露, 人脸 ...) but
that neither folder flags, where misses hide. `--skip` leaves out the
items of earlier sheets, so each sheet is fresh.

Fill in each line's `judged` with the tags the story deserves under the
topic definitions (an empty list for none), then `count` prints, per tag
and folder, the flagged stories judged, how many were right, the
precision, and the misses found among the quiet ones. Judge a sheet
before an edit is drawn from it; a sheet judged after the last edit is the
held-out figure. Nothing is timed except the items per second.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor import scoring  # noqa: E402
from monitor.engine import load_rules  # noqa: E402

# Wide on purpose: misses hide in the categories the rules do not name
# (ransomware claims, open databases, credential dumps, brokers, cameras,
# Chinese theft verbs), so the quiet sample looks there too.
TOPIC_WORDS = re.compile(
    r"\b(?:leak\w*|breach\w*|hack\w*|stolen|steal\w*|exposed|ransom\w*|biometric\w*|"
    r"fingerprint\w*|facial|face scan\w*|face recognition|recogni[sz]\w*|iris|palm|gait|"
    r"voice ?print\w*|cameras?|surveillance|cctv|data broker\w*|database\w*|credential\w*|"
    r"passwords?|dark ?web|cyber-? ?attack\w*|privacy|personal (?:data|information|details)|"
    r"scrap\w*|dox\w*)\b|泄露|泄漏|外泄|洩露|泄密|人脸|人臉|刷脸|面部|人像|指纹|指紋|虹膜|声纹|"
    r"生物识别|识别|个人信息|隐私|黑客|窃取|盗取|盗走|被盗|偷拍|倒卖|开盒|人肉|暗网|勒索|数据库|"
    r"身份证|手机号|爬取|爬虫|入侵|网络攻击|监控|摄像头|快递单|面单",
    re.I,
)


def load(path: Path):
    ruleset, problems = load_rules([path])
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    return ruleset


def read_items(paths: list[Path]) -> list[scoring.Item]:
    items = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{path}:{n}:{e.colno}: not JSON: {e.msg}", file=sys.stderr)
                continue
            fields = {k: str(obj.get(k) or "") for k in scoring.FIELDS}
            items.append(
                scoring.Item(
                    line=n,
                    id=str(obj.get("id") or f"{path.name}:{n}"),
                    fields=fields,
                    lang=str(obj.get("lang") or ""),
                    source=scoring.source_name(obj.get("source")) or path.name,
                    labels=frozenset(),
                )
            )
    return items


def run(ruleset, items) -> tuple[list[list[str]], float]:
    """Tags per item, in order, and items per second (fastest of two passes)."""
    spent = float("inf")
    verdicts: list[list[str]] = []
    for _ in range(2):
        t0 = time.perf_counter()
        verdicts = [sorted(scoring.predict(ruleset, i).tags) for i in items]
        spent = min(spent, time.perf_counter() - t0)
    return verdicts, len(items) / spent if spent else 0.0


def sample(args) -> int:
    items = read_items(args.items)
    ids = [i.id for i in items]
    if len(set(ids)) < len(ids):
        print("warning: some ids repeat; tell those lines apart by title", file=sys.stderr)
    folders = [("new", args.rules)] + ([("old", args.before)] if args.before else [])
    verdicts: dict[str, list[list[str]]] = {}
    for name, folder in folders:
        verdicts[name], rate = run(load(folder), items)
        print(f"{name} = {folder}: {rate:,.0f} items/s over {len(items)} items")
        for source in sorted({i.source for i in items}):
            at = [k for k, i in enumerate(items) if i.source == source]
            counts: dict[str, int] = {}
            for k in at:
                for tag in verdicts[name][k]:
                    counts[tag] = counts.get(tag, 0) + 1
            shown = ", ".join(f"{t} {c}" for t, c in sorted(counts.items())) or "none"
            print(f"  {source}: {len(at)} items, flagged {shown}")
    skip: set[str] = set()
    for sheet in args.skip or []:
        skip |= {
            json.loads(ln)["id"] for ln in sheet.read_text(encoding="utf-8").splitlines() if ln
        }
    pool = [k for k, i in enumerate(items) if i.id not in skip]
    flagged = [k for k in pool if any(verdicts[n][k] for n, _ in folders)]
    quiet = [
        k
        for k in pool
        if not any(verdicts[n][k] for n, _ in folders)
        and TOPIC_WORDS.search(items[k].fields["title"] + " " + items[k].fields["summary"])
    ]
    rng = random.Random(args.seed)
    picked = [("flagged", k) for k in rng.sample(flagged, min(args.fires, len(flagged)))]
    picked += [("quiet", k) for k in rng.sample(quiet, min(args.quiet, len(quiet)))]
    with args.out.open("w", encoding="utf-8") as out:
        for kind, k in picked:
            i = items[k]
            row: dict[str, object] = {
                "id": i.id,
                "kind": kind,
                "lang": i.lang,
                "title": i.fields["title"],
                "summary": i.fields["summary"],
            }
            row.update({f"{n}_tags": verdicts[n][k] for n, _ in folders})
            row["judged"] = None
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(
        f"{args.out}: {len(picked)} to judge (seed {args.seed}; {len(flagged)} flagged and "
        f"{len(quiet)} quiet topic-word items to draw from)"
    )
    return 0


def count(args) -> int:
    rows = [json.loads(ln) for ln in args.sheet.read_text(encoding="utf-8").splitlines() if ln]
    missing = [r["id"] for r in rows if r.get("judged") is None]
    if missing:
        print(
            f"{args.sheet}: {len(missing)} lines not judged yet, first {missing[0]}",
            file=sys.stderr,
        )
        return 2
    names = [k[: -len("_tags")] for k in rows[0] if k.endswith("_tags")] if rows else []
    tags = sorted(
        {t for r in rows for k in r if k.endswith("_tags") for t in r[k]}
        | {t for r in rows for t in r["judged"]}
    )
    langs = sorted({str(r.get("lang") or "") for r in rows})
    # One block for the whole sheet, then one per language when it holds several.
    groups = [("all", rows)] + (
        [(lang or "?", [r for r in rows if (r.get("lang") or "") == lang]) for lang in langs]
        if len(langs) > 1
        else []
    )
    print(
        f"{'tag':<20}{'lang':<6}{'rules':<6}{'flagged':>8}{'right':>7}{'P':>7}"
        f"{'quiet':>7}{'misses in quiet':>17}"
    )
    for tag in tags:
        for lang, part in groups:
            quiet = [r for r in part if r["kind"] == "quiet"]
            for name in names:
                flagged = [r for r in part if tag in r[f"{name}_tags"]]
                right = sum(tag in r["judged"] for r in flagged)
                missed = sum(tag in r["judged"] and tag not in r[f"{name}_tags"] for r in quiet)
                p = f"{right / len(flagged):.3f}" if flagged else "-"
                print(
                    f"{tag:<20}{lang:<6}{name:<6}{len(flagged):>8}{right:>7}{p:>7}"
                    f"{len(quiet):>7}{missed:>17}"
                )
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample")
    s.add_argument("items", nargs="+", type=Path)
    s.add_argument("--rules", type=Path, default=ROOT / "rules")
    s.add_argument("--before", type=Path)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--seed", type=int, default=20261202)
    s.add_argument("--fires", type=int, default=150, help="flagged stories to sample")
    s.add_argument("--quiet", type=int, default=40, help="unflagged topic-word stories to sample")
    s.add_argument("--skip", nargs="*", type=Path, help="earlier sheets whose items are left out")
    c = sub.add_parser("count")
    c.add_argument("sheet", type=Path)
    args = ap.parse_args(argv)
    return sample(args) if args.command == "sample" else count(args)


if __name__ == "__main__":
    sys.exit(main())
