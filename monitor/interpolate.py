"""${NAME} in a config's string values, from the environment or a NAME_FILE.

Values put into channels, request headers and source URLs are secrets: they
are collected so that errors and logs can mask them (hide_secrets).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .yamlfile import FileError, YamlDoc

_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")


def _is_secret_place(loc: tuple) -> bool:
    """Where a value taken from the environment is a secret: channels,
    request headers and source URLs (which may carry a token)."""
    return bool(loc) and (
        loc[0] == "channels" or "headers" in loc or (loc[0] == "sources" and loc[-1] == "url")
    )


def interpolate(
    doc: YamlDoc,
    env: dict[str, str] | None = None,
    secrets: set[str] | None = None,
    unset: dict[str, list[tuple[tuple, str]]] | None = None,
) -> tuple[Any, list[FileError]]:
    """Replace ${NAME} (or ${NAME:-default}) in every string value; `$$` is
    a literal `$`. NAME_FILE, when NAME is unset, names a file holding the
    value (Docker and Kubernetes secrets). Values put into channels, headers
    and source URLs are added to `secrets`. With `unset` given, a variable
    missing inside a channel is no error: it is listed there under the
    channel's name (the channel is then left out)."""
    if doc.raw is not None and b"$" not in doc.raw:
        return doc.data, []  # nothing to replace: the walk of a big config skipped
    environ: Mapping[str, str] = os.environ if env is None else env
    subst = _Interpolation(doc, environ, set() if secrets is None else secrets, unset)
    return subst.walk(doc.data, ()), subst.errors


class _Interpolation:
    """One pass of interpolate over a document. A class, not nested
    closures: a recursive closure is a reference cycle, and it would hold
    the document's node tree until the garbage collector came by."""

    def __init__(
        self,
        doc: YamlDoc,
        environ: Mapping[str, str],
        secrets: set[str],
        unset: dict[str, list[tuple[tuple, str]]] | None,
    ):
        self.doc = doc
        self.environ = environ
        self.secrets = secrets
        self.unset = unset
        self.errors: list[FileError] = []

    def value_of(self, name: str, default: str | None, loc: tuple) -> str:
        environ = self.environ
        if name in environ:
            return environ[name]
        file_var = environ.get(f"{name}_FILE")
        if file_var:
            try:
                return Path(file_var).read_text(encoding="utf-8").strip()
            except OSError as e:
                self.errors.append(
                    self.doc.error(loc, f"cannot read {name}_FILE={file_var}: {e.strerror or e}")
                )
                return ""
        if default is not None:
            return default
        if self.unset is not None and len(loc) >= 2 and loc[0] == "channels":
            self.unset.setdefault(str(loc[1]), []).append((loc, name))
            return ""
        self.errors.append(self.doc.error(loc, f"environment variable {name} is not set"))
        return ""

    def walk(self, value: Any, loc: tuple) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value

            def sub(m: re.Match) -> str:
                if m.group(0) == "$$":
                    return "$"
                got = self.value_of(m.group(1), m.group(2), loc)
                if _is_secret_place(loc) and got != m.group(2):
                    self.secrets.add(got)
                return got

            return _VAR.sub(sub, value)
        if isinstance(value, dict):
            return {k: self.walk(v, loc + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, loc + (i,)) for i, v in enumerate(value)]
        return value


def hide_secrets(errors: list[FileError], secrets: set[str]) -> list[FileError]:
    """The errors with every secret value taken from the environment
    replaced by ***: a malformed secret is named by its place, never shown."""
    order = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)
    out = []
    for e in errors:
        message = e.message
        for secret in order:
            message = message.replace(secret, "***")
        out.append(e if message == e.message else FileError(e.path, e.line, e.col, message))
    return out
