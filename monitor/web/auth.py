"""Sign-in for the dashboard: the password, its hash, and a limit on tries.

The password comes from MONITOR_WEB_PASSWORD, or from the file named by
MONITOR_WEB_PASSWORD_FILE (a container secret). It is read once at start,
kept only as a salted scrypt hash, and registered with the log's mask so
it is never written out. Pages on a loopback address need no sign-in
unless a password is set; on any other address a password is required and
the server refuses to start without one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import threading
import time
from collections.abc import Mapping

PASSWORD_ENV = "MONITOR_WEB_PASSWORD"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class SignInError(Exception):
    """The sign-in settings cannot work: one line for the user."""


def read_password(env: Mapping[str, str] = os.environ, name: str = PASSWORD_ENV) -> str | None:
    """The password from NAME or from the file NAME_FILE names; None when neither is set."""
    value, path = env.get(name), env.get(name + "_FILE")
    if value and path:
        raise SignInError(f"{name} and {name}_FILE are both set: keep one")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                value = f.read().rstrip("\r\n")
        except OSError as e:
            raise SignInError(f"{name}_FILE: cannot read {path}: {e.strerror or e}") from None
        if not value:
            raise SignInError(f"{name}_FILE: {path} is empty")
    return value or None


class PasswordHash:
    """A salted scrypt hash; the password itself is not kept."""

    def __init__(self, password: str):
        self.salt = secrets.token_bytes(16)
        self.digest = hashlib.scrypt(password.encode("utf-8"), salt=self.salt, **_SCRYPT)
        # The session signing key is derived from the password too, so that
        # replicas sharing the password accept each other's sessions and a
        # new password ends every session.
        self.session_key = hashlib.scrypt(
            password.encode("utf-8"), salt=b"privacy-monitor web session", **_SCRYPT
        )

    def verify(self, attempt: str) -> bool:
        got = hashlib.scrypt(attempt.encode("utf-8"), salt=self.salt, **_SCRYPT)
        return hmac.compare_digest(got, self.digest)


class Limiter:
    """Failed sign-ins: `per_client` per client address and `overall` in
    all within `window` seconds; beyond that, tries are refused unheard."""

    def __init__(self, per_client: int = 5, overall: int = 50, window: float = 900.0):
        self.per_client, self.overall, self.window = per_client, overall, window
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, now: float) -> None:
        cutoff = now - self.window
        for key in list(self._fails):
            kept = [t for t in self._fails[key] if t >= cutoff]
            if kept:
                self._fails[key] = kept
            else:
                del self._fails[key]

    def blocked(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(now)
            total = sum(len(v) for v in self._fails.values())
            return len(self._fails.get(client, ())) >= self.per_client or total >= self.overall

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._fails.setdefault(client, []).append(now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._fails.pop(client, None)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(host: str, password: PasswordHash | None) -> None:
    """Refuse pages on a non-loopback address without a password."""
    if password is None and not is_loopback(host):
        raise SignInError(
            f"http.listen: the dashboard on {host}, which is not a loopback address, needs a "
            f"sign-in: set {PASSWORD_ENV} (or {PASSWORD_ENV}_FILE), or http.pages: false to "
            "serve only /healthz, /readyz and /metrics"
        )
