"""The two semantic conditions of the rule language, and how they are read.

    similar: {to: ["police scan faces of protesters", "警方用人脸识别抓人"], min: 0.4}
    classifier: {model: data-leak.model, min: 0.7}

`similar` holds when the story's embedding has a cosine similarity of at
least `min` with any example; `classifier` when the model's probability for
the story is at least `min`. Both can carry a `weight` like any condition.
Example vectors and models are prepared when the rules load, so a missing
extra, a bad model or a model of another encoder is reported then, as one
line pointing into the rule file, and never while stories are matched.

This module does not import numpy or the encoder at import time: the rule
engine imports it whether or not the extra is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.yamlfile import FileError, did_you_mean

Fail = Callable[[tuple, str], None]
_SIMILAR_KEYS = ("to", "min")
_CLASSIFIER_KEYS = ("model", "min")
MAX_EXAMPLES = 50
_example_cache: dict[str, Any] = {}  # example text -> vector, across reloads


@dataclass(frozen=True, slots=True, eq=False)
class Similar:
    examples: tuple[str, ...]
    min: float
    # the examples' vectors, made on first use: a disabled rule never loads the encoder
    _vectors: list = field(default_factory=list)

    @property
    def vectors(self):
        if not self._vectors:
            self._vectors.append(_embed_examples(self.examples))
        return self._vectors[0]

    def scores(self, vector) -> list[float]:
        return [float(s) for s in self.vectors @ vector]

    def holds(self, vector) -> tuple[bool, float, str]:
        """Whether it holds, the best similarity and the example that gave it."""
        scores = self.scores(vector)
        best = max(range(len(scores)), key=scores.__getitem__)
        return scores[best] >= self.min, scores[best], self.examples[best]


@dataclass(frozen=True, slots=True, eq=False)
class Classifier:
    model: str  # as written in the rule
    path: Path
    head: Any  # monitor.semantic.head.Head
    min: float

    def score(self, vector) -> float:
        return float(self.head.score(vector))


def describe(cond: Similar | Classifier) -> str:
    if isinstance(cond, Similar):
        n = len(cond.examples)
        return f"similar to {n} example{'s' if n != 1 else ''}, min {cond.min:g}"
    return f"classifier {cond.model}, min {cond.min:g}"


def detail(cond: Similar | Classifier, vector) -> list[str]:
    """What `monitor rules explain` shows under the condition: each score against min."""
    if isinstance(cond, Classifier):
        score = cond.score(vector)
        verdict = ">=" if score >= cond.min else "<"
        return [f"score {score:.3f} {verdict} min {cond.min:g} ({cond.head.tag or 'no tag'})"]
    out = []
    for example, score in zip(cond.examples, cond.scores(vector)):
        verdict = ">=" if score >= cond.min else "< "
        out.append(f"{score:.3f} {verdict} {cond.min:g}  {example}")
    return out


def _unavailable(op: str, here: tuple, fail: Fail) -> bool:
    from monitor.semantic.encoder import EXTRA_HINT, available

    if available():
        return False
    fail(here, f"'{op}' needs the sentence encoder, which is not installed; {EXTRA_HINT}")
    return True


def _keys(value: Any, op: str, allowed: tuple[str, ...], here: tuple, fail: Fail) -> bool:
    example = (
        "{to: [an example story, ...], min: 0.4}"
        if op == "similar"
        else "{model: x.model, min: 0.7}"
    )
    if not isinstance(value, dict):
        fail(here, f"'{op}' takes a mapping: {op}: {example}")
        return False
    ok = True
    for key in value:
        if key not in allowed:
            fail(here + (key,), f"unknown key '{key}' in '{op}'{did_you_mean(str(key), allowed)}")
            ok = False
    for key in allowed:
        if key not in value and ok:
            fail(here, f"'{op}' needs '{key}': {op}: {example}")
            ok = False
    return ok


def _min(value: dict, here: tuple, fail: Fail) -> float | None:
    n = value["min"]
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not 0 < n < 1:
        fail(here + ("min",), f"'min' must be a number between 0 and 1, got {n!r}")
        return None
    return float(n)


def parse_similar(value: Any, here: tuple, fail: Fail) -> Similar | None:
    if not _keys(value, "similar", _SIMILAR_KEYS, here, fail):
        return None
    examples = value["to"]
    if isinstance(examples, str):
        examples = [examples]
    if (
        not isinstance(examples, list)
        or not examples
        or not all(isinstance(e, str) and e.strip() for e in examples)
    ):
        fail(here + ("to",), "'to' takes a list of example texts (non-empty strings)")
        return None
    if len(examples) > MAX_EXAMPLES:
        fail(
            here + ("to",), f"{len(examples)} examples; at most {MAX_EXAMPLES} (train a classifier)"
        )
        return None
    minimum = _min(value, here, fail)
    if minimum is None or _unavailable("similar", here, fail):
        return None
    return Similar(tuple(examples), minimum)


def _embed_examples(examples: tuple[str, ...]):
    import numpy as np

    from monitor.semantic.encoder import embed

    todo = [e for e in dict.fromkeys(examples) if e not in _example_cache]
    if todo:
        for text, vec in zip(todo, embed(todo)):
            _example_cache[text] = vec
    return np.vstack([_example_cache[e] for e in examples])


def parse_classifier(value: Any, here: tuple, fail: Fail, rule_file: Path) -> Classifier | None:
    if not _keys(value, "classifier", _CLASSIFIER_KEYS, here, fail):
        return None
    model = value["model"]
    if not isinstance(model, str) or not model.strip():
        fail(here + ("model",), "'model' takes the path of a model file, relative to this file")
        return None
    minimum = _min(value, here, fail)
    if minimum is None:
        return None
    folder = rule_file.parent.resolve()
    path = (folder / model).resolve()
    if Path(model).is_absolute() or not path.is_relative_to(folder):
        fail(
            here + ("model",),
            f"model {model!r} must be inside the rules folder, as a path relative to this file",
        )
        return None
    if _unavailable("classifier", here, fail):
        return None
    from monitor.semantic.head import load

    try:
        head = load(path)
    except FileError as err:
        fail(here + ("model",), f"model {model!r}: {err.message}")
        return None
    return Classifier(model, path, head, minimum)
