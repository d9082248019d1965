"""The Curl handles behind the fetcher (see curl.py), where the trusted CA
certificates are, and the proxy the environment names for an origin
(read here, with our own NO_PROXY matcher: libcurl is never left to read
the environment itself)."""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

from monitor.config import FetchSettings
from monitor.fetch.curl import Transfer
from monitor.fetch.limits import Watchdog

# Idle keep-alive connections one handle keeps (libcurl closes the oldest
# beyond this): a handle serves many hosts in turn.
_CONNECTIONS = 8
_KINDS = ((False, False), (True, False), (False, True), (True, True))
# Environment proxy answers kept (article links reach many hosts).
_MAX_ORIGINS = 4096


def ca_location() -> str:
    """Where trusted CA certificates are read from: REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE (a file or a directory), else certifi's bundle."""
    found = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if found:
        return found
    import certifi

    return certifi.where()


def ca_files() -> tuple[str | None, str | None]:
    """(CA file, CA directory) for libcurl, from ca_location()."""
    where = ca_location()
    return (None, where) if os.path.isdir(where) else (where, None)


def unreadable_ca() -> OSError | None:
    """Why the CA certificates cannot be read, if they cannot."""
    where = ca_location()
    try:
        if os.path.isdir(where):
            os.listdir(where)
        else:
            with open(where, "rb"):
                pass
    except OSError as e:
        return e
    return None


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether NO_PROXY names `host`: "*", the host or a parent domain
    (".example.org" or "example.org"), host:port, or an address or network
    (10.0.0.0/8) holding a literal address."""
    host = host.strip("[]").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in no_proxy.replace(" ", "").lower().split(","):
        if not entry:
            continue
        if entry == "*":
            return True
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
                continue
            except ValueError:
                pass
        name, _, want = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if want and (not want.isdigit() or int(want) != port):
            continue
        name = name.lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def proxy_variables(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """{scheme: value} of the *_proxy variables (http, https, all, no), as
    the standard library reads them: a lower-case name wins over its
    upper-case twin, an empty lower-case one unsets it, and HTTP_PROXY is
    ignored under CGI (REQUEST_METHOD set: the name a client's Proxy header
    becomes). Read here because urllib.request's reader costs http.client
    and ssl at the first fetch."""
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for name, value in environ.items():
        if value and name[-6:].lower() == "_proxy" and not name.islower():
            found[name[:-6].lower()] = value
    if "REQUEST_METHOD" in environ:
        found.pop("http", None)
    for name, value in environ.items():
        if name[-6:] == "_proxy" and name.islower():
            if value:
                found[name[:-6]] = value
            else:
                found.pop(name[:-6], None)
    return found


def environment_proxy(url: str) -> str | None:
    """The proxy HTTP_PROXY / HTTPS_PROXY / ALL_PROXY name for `url`, unless
    NO_PROXY exempts its host."""
    parts = urlsplit(url)
    env = proxy_variables()
    scheme = parts.scheme.lower()
    proxy = env.get(scheme) or env.get("all")
    if not proxy:
        return None
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    if _bypassed(parts.hostname or "", port, env.get("no", "")):
        return None
    return proxy if "://" in proxy else "http://" + proxy


class Pools:
    """The Curl handles of one Fetcher, shared by every fetch thread: a
    fetch takes one that is free (made when none is) and gives it back
    with its idle keep-alive connections, so there are as many as there
    are fetches in flight at once. Links found in content get handles of
    their own (guarded: they connect to public addresses only), so they
    never reuse a connection made without that check."""

    def __init__(self, settings: FetchSettings, watchdog: Watchdog):
        self.allow = tuple(ipaddress.ip_network(n, strict=False) for n in settings.allow_networks)
        self._watchdog = watchdog
        # free handles by (guarded, batched)
        self._free: dict[tuple[bool, bool], list[Transfer]] = {k: [] for k in _KINDS}
        self._made: list[Transfer] = []
        self._env: dict[tuple[str, str, int | None], str | None] = {}
        self._ca: tuple[str | None, str | None] | None = None
        self._ca_error: OSError | None | bool = False  # False: not looked at yet
        self._lock = threading.Lock()

    def take(self, guarded: bool, batched: bool = False) -> Transfer:
        try:
            return self._free[guarded, batched].pop()
        except IndexError:
            pass
        with self._lock:
            if self._ca is None:
                self._ca = ca_files()
            made = Transfer(self._watchdog, self._ca, guarded, self.allow, _CONNECTIONS, batched)
            self._made.append(made)
        return made

    def give(self, transfer: Transfer) -> None:
        self._free[transfer.guarded, transfer.batched].append(transfer)

    def ca_error(self) -> OSError | None:
        """unreadable_ca(), looked at once (before the first https fetch)."""
        if self._ca_error is False:
            self._ca_error = unreadable_ca()
        return self._ca_error  # type: ignore[return-value]

    def environment_proxy(self, origin: tuple[str, str, int | None], url: str) -> str | None:
        """environment_proxy(url), remembered per origin: reading the
        environment walks all of it, and a running monitor's does not change."""
        try:
            return self._env[origin]
        except KeyError:
            pass
        found = environment_proxy(url)
        if len(self._env) >= _MAX_ORIGINS:
            self._env.clear()
        self._env[origin] = found
        return found

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, []
            self._free = {k: [] for k in _KINDS}
        for t in made:
            t.close()
