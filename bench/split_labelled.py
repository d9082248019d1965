"""Split a labelled news set into a tuning half and a check half.

    python bench/split_labelled.py ITEMS.jsonl OUT_DIR [--seed 20261201]

Writes OUT_DIR/<stem>.tune.jsonl and OUT_DIR/<stem>.check.jsonl. Items are
grouped by language and label set (en/zh x facial recognition, data leak,
both, neither), each group is shuffled with the fixed seed and dealt out
alternately, so both halves keep the set's mix and the same seed always
gives the same halves. Keep OUT_DIR outside the repository when the set
comes from outside it: tune on one half, score the other once at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path


def stratum(item: dict) -> tuple[str, tuple[str, ...]]:
    return item.get("lang", ""), tuple(sorted(item.get("labels") or []))


def split(lines: list[str], seed: int) -> tuple[list[str], list[str]]:
    groups: dict[tuple, list[str]] = {}
    for line in lines:
        groups.setdefault(stratum(json.loads(line)), []).append(line)
    rng = random.Random(seed)
    tune: list[str] = []
    check: list[str] = []
    # A stable group order, so the seed alone decides the halves; an odd
    # group's extra item goes to the half that is behind.
    for key in sorted(groups):
        group = groups[key]
        rng.shuffle(group)
        first, second = (tune, check) if len(tune) <= len(check) else (check, tune)
        for i, line in enumerate(group):
            (first if i % 2 == 0 else second).append(line)
    return tune, check


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=20261201)
    args = ap.parse_args(argv)
    lines = [ln for ln in args.items.read_text(encoding="utf-8").splitlines() if ln.strip()]
    tune, check = split(lines, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, half in (("tune", tune), ("check", check)):
        path = args.out / f"{args.items.stem}.{name}.jsonl"
        path.write_text("".join(line + "\n" for line in half), encoding="utf-8")
        print(f"{path.name}: {len(half)} items", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
