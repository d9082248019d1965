"""Links found in content may reach public addresses only: the urllib3
connection classes that check every address a host resolves to."""

from __future__ import annotations

import ipaddress
import socket

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


def address_kind(address: str) -> str | None:
    """Why an IP address is not a public one (loopback, private, link-local,
    which holds cloud metadata services, ...), or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.version == 4 and ip in _SHARED:
        return "shared (carrier NAT)"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "reserved"
    if ip.is_private:
        return "private"
    return None


class BlockedAddress(Exception):
    """A link found in content resolved to an address it may not reach."""


def guarded_pools(allow: tuple) -> dict:
    """urllib3 pool classes whose connections resolve the host, refuse it
    when any of its addresses is not public (unless in `allow`), and connect
    to the address they checked, so a second DNS answer cannot slip in
    between the check and the connection. Every redirect hop opens its
    connection through here."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import NameResolutionError

    def vetted(conn) -> str:
        try:
            infos = socket.getaddrinfo(conn._dns_host, conn.port, 0, socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise NameResolutionError(conn.host, conn, e) from e
        first: str | None = None
        for info in infos:
            addr = str(info[4][0])
            kind = address_kind(addr)
            if kind and not any(
                ipaddress.ip_address(addr.split("%", 1)[0]) in net for net in allow
            ):
                raise BlockedAddress(f"{conn.host} resolves to {addr}, a {kind} address")
            first = first or addr
        return first or conn._dns_host

    class _Guard:
        _dns_host: str

        def _new_conn(self):
            host = self._dns_host
            self._dns_host = vetted(self)
            try:
                return super()._new_conn()  # type: ignore[misc]
            finally:
                self._dns_host = host

    class GuardedHTTP(_Guard, HTTPConnection):
        pass

    class GuardedHTTPS(_Guard, HTTPSConnection):
        pass

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTP

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPS

    return {"http": HTTPPool, "https": HTTPSPool}
