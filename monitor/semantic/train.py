"""`monitor rules train`: a classifier for one tag from labelled JSON Lines.

Each line is an object with ``title``, optional ``summary``, ``labels`` (a
list; ``data-leak`` and ``data_leak`` are the same label) and optional
``source`` (a string, or a mapping whose ``repo``, ``corpus`` or ``url``
names it). The figures printed are cross-validated: when the items come
from three or more sources, each source is held out in turn (a model that
only learnt one outlet's style shows it there); otherwise five folds dealt
by a fixed seed. The model written at the end is fitted on every item.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from monitor.semantic import encoder, head
from monitor.yamlfile import FileError

MAX_FOLDS = 10
OTHER_MINS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass
class Item:
    text: str
    positive: bool
    group: str


@dataclass
class Report:
    items: int
    positives: int
    folds: str
    min: float
    precision: float
    recall: float
    f1: float
    # (min, precision, recall, F1) at other values of min, to choose one
    others: list[tuple[float, float, float, float]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"{self.items} items, {self.positives} labelled; cross-validated ({self.folds}):",
            f"precision {self.precision:.3f}  recall {self.recall:.3f}  F1 {self.f1:.3f}"
            f"  at min {self.min:g}",
        ]
        if self.others:
            out.append("at other values of min:")
            out += [
                f"  min {m:.2f}  P {p:.3f}  R {r:.3f}  F1 {f:.3f}" for m, p, r, f in self.others
            ]
        return out


def _norm(label: str) -> str:
    return label.strip().lower().replace("_", "-")


def _group(source) -> str:
    if isinstance(source, dict):
        for key in ("repo", "corpus", "url", "name"):
            if source.get(key):
                return str(source[key])
        return ""
    return str(source or "")


def read_labelled(path: Path, tag: str) -> list[Item]:
    want = _norm(tag)
    items = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileError(path, None, None, f"cannot read: {exc}") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileError(path, n, exc.colno, f"not JSON: {exc.msg}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("title"), str):
            raise FileError(path, n, 1, "each line needs an object with a 'title' string")
        labels = obj.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            col = line.find('"labels"') + 1 or 1
            raise FileError(path, n, col, "'labels' must be a list of strings")
        fields = {"title": obj["title"], "summary": str(obj.get("summary") or "")}
        items.append(
            Item(
                encoder.story_text(fields),
                want in {_norm(x) for x in labels},
                _group(obj.get("source")),
            )
        )
    if not items:
        raise FileError(path, None, None, "no labelled items")
    if not any(i.positive for i in items) or all(i.positive for i in items):
        raise FileError(path, None, None, f"needs items with and without the label '{tag}'")
    return items


def folds(items: list[Item], seed: int = 20261201) -> tuple[list[list[int]], str]:
    groups = sorted({i.group for i in items})
    if len(groups) >= 3:
        rng = random.Random(seed)
        rng.shuffle(groups)
        k = min(len(groups), MAX_FOLDS)
        which = {g: j % k for j, g in enumerate(groups)}
        out = [[n for n, i in enumerate(items) if which[i.group] == j] for j in range(k)]
        return out, f"{len(groups)} sources, each held out" if k == len(groups) else (
            f"{len(groups)} sources in {k} held-out folds"
        )
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    k = min(5, len(items))
    return [order[j::k] for j in range(k)], f"{k} folds"


def prf(gold, pred) -> tuple[float, float, float]:
    tp = sum(1 for g, p in zip(gold, pred) if g and p)
    fp = sum(1 for g, p in zip(gold, pred) if p and not g)
    fn = sum(1 for g, p in zip(gold, pred) if g and not p)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def cross_validate(vectors, items: list[Item], l2: float, minimum: float):
    """Held-out scores of every item, and the report at `minimum`."""
    import numpy as np

    y = np.array([i.positive for i in items], dtype=float)
    scores = np.zeros(len(items))
    parts, how = folds(items)
    for test in parts:
        train = np.ones(len(items), dtype=bool)
        train[test] = False
        w, b = head.fit(vectors[train], y[train], l2)
        scores[test] = head.Head(w, b, "").score(vectors[test])
    p, r, f = prf(y > 0, scores >= minimum)
    others = [(m, *prf(y > 0, scores >= m)) for m in OTHER_MINS if abs(m - minimum) > 1e-9]
    return scores, Report(len(items), int(y.sum()), how, minimum, p, r, f, others)


def train(
    path: Path, tag: str, out: Path, minimum: float = 0.5, l2: float = head.DEFAULT_L2
) -> Report:
    items = read_labelled(path, tag)
    import numpy as np

    vectors = encoder.embed([i.text for i in items])
    _, report = cross_validate(vectors, items, l2, minimum)
    w, b = head.fit(vectors, np.array([i.positive for i in items], dtype=float), l2)
    trained = {
        "items": report.items,
        "positives": report.positives,
        "l2": l2,
        "cross_validated": {
            "folds": report.folds,
            "min": minimum,
            "precision": round(report.precision, 4),
            "recall": round(report.recall, 4),
            "f1": round(report.f1, 4),
        },
    }
    head.save(head.Head(w, b, encoder.encoder_id(), tag, trained), out)
    return report


def command(path: Path, tag: str, out: Path, minimum: float, l2: float) -> int:
    """`monitor rules train`: the report on stdout, one line on stderr for a problem."""
    import sys

    from monitor.semantic.encoder import SemanticUnavailable

    if not 0 < minimum < 1:
        print(f"--min must be between 0 and 1, got {minimum:g}", file=sys.stderr)
        return 2
    try:
        report = train(path, tag, out, minimum, l2)
    except (FileError, SemanticUnavailable) as err:
        print(err, file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    print(f"wrote {out} ({out.stat().st_size} bytes, encoder {encoder.encoder_id()})")
    return 0
