"""How often the copy detector folds each kind of story pair.

    python bench/dedupe_pairs.py [PAIRS.jsonl]

PAIRS.jsonl (default: bench/labelled/story_pairs.jsonl, written for this
project) holds one pair a line: {"kind", "same", "a", "b"}, each story with
source, title, summary and optionally guid. `same` says whether the two are
one story (a copy, to fold) or two (never to fold). For each kind the script
prints how many pairs are folded, twice: by the MinHash estimate alone at the
old threshold (baseline), and by dedupe.same_story, the decision the monitor
makes. Targets: no distinct pair folded, at least 90 % of copies folded.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor import dedupe  # noqa: E402
from monitor.models import Story  # noqa: E402

BASELINE_THRESHOLD = 0.5


def story(d: dict, n: int) -> Story:
    guid = d.get("guid")
    return Story(
        source=d["source"],
        key=f"guid:{guid}" if guid else f"hash:{n}",
        title=d["title"],
        summary=d.get("summary", ""),
        guid=guid,
    )


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench/labelled/story_pairs.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    total: Counter = Counter()
    base: Counter = Counter()
    new: Counter = Counter()
    same_of: dict[str, bool] = {}
    wrong = []
    for i, row in enumerate(rows):
        a, b = story(row["a"], 2 * i), story(row["b"], 2 * i + 1)
        kind = row["kind"]
        same_of[kind] = row["same"]
        total[kind] += 1
        sa, sb = dedupe.signature(dedupe.story_text(a)), dedupe.signature(dedupe.story_text(b))
        if sa and sb and dedupe.similarity(sa, sb) >= BASELINE_THRESHOLD:
            base[kind] += 1
        folded = dedupe.same_story(a, b)
        new[kind] += folded
        if folded != row["same"]:
            wrong.append(f"{kind}: {a.title!r} / {b.title!r}")
    print(f"{len(rows)} labelled pairs from {path.name}; folded / pairs")
    print(f"{'kind':<20} {'label':<9} {'baseline':>9} {'monitor':>9}")
    for kind in sorted(total, key=lambda k: (same_of[k], k)):
        label = "copy" if same_of[kind] else "distinct"
        print(
            f"{kind:<20} {label:<9} {base[kind]:>4}/{total[kind]:<4} {new[kind]:>4}/{total[kind]:<4}"
        )
    for label, is_same in (("distinct", False), ("copy", True)):
        kinds = [k for k in total if same_of[k] is is_same]
        t = sum(total[k] for k in kinds)
        b = sum(base[k] for k in kinds)
        n = sum(new[k] for k in kinds)
        print(
            f"all {label:<16}           {b:>4}/{t:<4} {n:>4}/{t:<4}  ({100 * n / t:.0f} % folded)"
        )
    for line in wrong:
        print("  wrong: " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
