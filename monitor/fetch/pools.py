"""The connection pools behind the fetcher: urllib3 pool managers kept per
(scheme, proxy, guarded), the TLS context they share, and the proxy the
environment names for an origin.

urllib3 is used directly rather than through requests: a fetch takes less
than half the CPU, and the fetch threads share the GIL with parsing.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import threading
import urllib.request
from urllib.parse import unquote, urlsplit

import urllib3
from urllib3.util import make_headers
from urllib3.util.ssl_ import create_urllib3_context

from monitor.config import FetchSettings
from monitor.fetch.guard import guarded_pools

# Origins whose pools (and idle keep-alive connections) are kept; the least
# recently used one is closed beyond this.
NUM_POOLS = 32
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


def tls_context() -> ssl.SSLContext:
    """Certificates verified against ca_location(), host names checked.
    Built once per Fetcher: loading a CA bundle costs milliseconds."""
    ctx = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    where = ca_location()
    if os.path.isdir(where):
        ctx.load_verify_locations(capath=where)
    else:
        ctx.load_verify_locations(cafile=where)
    return ctx


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


def environment_proxy(url: str) -> str | None:
    """The proxy HTTP_PROXY / HTTPS_PROXY / ALL_PROXY name for `url`, unless
    NO_PROXY exempts its host."""
    parts = urlsplit(url)
    env = urllib.request.getproxies_environment()
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
    """Pool managers, made on first use and shared by every fetch thread:
    direct, guarded (links found in content: public addresses only, see
    guard.py) and one per proxy. A pool holds as many connections to one
    origin as there are fetch threads to use them."""

    def __init__(self, settings: FetchSettings):
        self.maxsize = max(settings.workers, 1)
        self.allow = tuple(ipaddress.ip_network(n, strict=False) for n in settings.allow_networks)
        self._managers: dict[tuple[str, str | None, bool], urllib3.PoolManager] = {}
        self._env: dict[tuple[str, str], str | None] = {}
        self._tls: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def manager(self, scheme: str, proxy: str | None, guarded: bool) -> urllib3.PoolManager:
        key = (scheme, proxy, guarded and not proxy)
        found = self._managers.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._managers.get(key)
            if found is None:
                found = self._managers[key] = self._make(scheme, proxy, key[2])
            return found

    def _make(self, scheme: str, proxy: str | None, guarded: bool) -> urllib3.PoolManager:
        kw: dict = {"num_pools": NUM_POOLS, "maxsize": self.maxsize}
        if scheme == "https":
            kw["ssl_context"] = self._context()
        if proxy and proxy.lower().startswith("socks"):
            from urllib3.contrib.socks import SOCKSProxyManager

            return SOCKSProxyManager(proxy, **kw)
        if proxy:
            p = urlsplit(proxy)
            if p.username:
                auth = f"{unquote(p.username)}:{unquote(p.password or '')}"
                kw["proxy_headers"] = make_headers(proxy_basic_auth=auth)
            if p.scheme == "https":
                kw["proxy_ssl_context"] = self._context()
            return urllib3.ProxyManager(proxy, **kw)
        manager = urllib3.PoolManager(**kw)
        if guarded:
            manager.pool_classes_by_scheme = guarded_pools(self.allow)
        return manager

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = tls_context()
        return self._tls

    def environment_proxy(self, url: str) -> str | None:
        """environment_proxy(url), remembered per origin: reading the
        environment walks all of it, and a running monitor's does not change."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        try:
            return self._env[key]
        except KeyError:
            pass
        found = environment_proxy(url)
        if len(self._env) >= _MAX_ORIGINS:
            self._env.clear()
        self._env[key] = found
        return found

    def close(self) -> None:
        with self._lock:
            managers, self._managers = list(self._managers.values()), {}
        for m in managers:
            m.clear()
