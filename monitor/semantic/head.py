"""A linear head on story embeddings: L2-regularised logistic regression,
fitted by Newton's method in numpy, and the small model file that keeps it.

512 weights and a bias need no training library: a few Newton steps on a
513 x 513 system converge on a thousand stories in well under a second.

A model file is JSON: the weights as base64 float32, the encoder they
belong to, the tag, and the cross-validated figures of the training run.
About 3 KB.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.semantic.encoder import DIMS, encoder_id
from monitor.yamlfile import FileError

FORMAT = "privacy-monitor classifier"
FORMAT_VERSION = 1
MAX_MODEL_BYTES = 64 * 1024
DEFAULT_L2 = 1.0  # chosen by leave-one-source-out runs on labelled news; see bench/


@dataclass
class Head:
    weights: Any  # numpy float32 array of DIMS
    bias: float
    encoder: str
    tag: str = ""
    trained: dict = field(default_factory=dict)

    def score(self, vectors):
        """Probability of the tag for one vector or a matrix of them."""
        import numpy as np

        z = np.asarray(vectors, dtype=np.float64) @ self.weights.astype(np.float64) + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit(X, y, l2: float = DEFAULT_L2, steps: int = 50) -> tuple[Any, float]:
    """Weights and bias minimising log loss + l2/2 * |w|^2 (the bias is not penalised)."""
    import numpy as np

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    A = np.hstack([X, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, float(l2))
    reg[-1] = 1e-6  # keeps the system solvable when every label is the same
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ w, -50, 50)))
        grad = A.T @ (p - y) + reg * w
        hess = (A * (p * (1 - p))[:, None]).T @ A + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-7:
            break
    return w[:-1].astype(np.float32), float(w[-1])


def save(head: Head, path: Path) -> None:
    import numpy as np

    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "encoder": head.encoder,
        "tag": head.tag,
        "dims": int(head.weights.size),
        "bias": round(head.bias, 7),
        "weights": base64.b64encode(np.asarray(head.weights, dtype="<f4").tobytes()).decode(),
        "trained": head.trained,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def load(path: Path, expect_encoder: str | None = None) -> Head:
    """Read a model file; every problem is a FileError naming the file.

    `expect_encoder` defaults to the installed encoder's id; a model made
    with another is refused, since its weights mean nothing to these vectors.
    """
    import numpy as np

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(path, None, None, f"cannot read the model: {exc.strerror or exc}") from None
    if len(raw) > MAX_MODEL_BYTES:
        raise FileError(path, None, None, f"{len(raw)} bytes is too big for a classifier model")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line, col = (exc.lineno, exc.colno) if isinstance(exc, json.JSONDecodeError) else (1, 1)
        raise FileError(path, line, col, "not a classifier model (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FileError(
            path, 1, 1, "not a classifier model (no 'format: privacy-monitor classifier')"
        )
    if doc.get("version") != FORMAT_VERSION:
        raise FileError(
            path, None, None, f"model format version {doc.get('version')!r} is not supported"
        )
    want = expect_encoder if expect_encoder is not None else encoder_id()
    if doc.get("encoder") != want:
        raise FileError(
            path,
            None,
            None,
            f"the model was trained with encoder {doc.get('encoder')!r}, but this install has "
            f"{want!r}; retrain it with `monitor rules train`",
        )
    try:
        weights = np.frombuffer(base64.b64decode(doc["weights"], validate=True), dtype="<f4")
        bias = float(doc["bias"])
    except (KeyError, ValueError, TypeError) as exc:
        raise FileError(path, None, None, f"the model's weights are damaged ({exc})") from None
    if weights.shape != (DIMS,) or not math.isfinite(bias) or not np.isfinite(weights).all():
        raise FileError(
            path, None, None, f"the model's weights are damaged ({weights.size} numbers)"
        )
    return Head(
        weights.astype(np.float32), bias, want, str(doc.get("tag") or ""), doc.get("trained") or {}
    )
