"""Links found in content may reach public addresses only: what an address
is, and the check of every address a host resolves to (the transport pins
the connection to the addresses checked, and checks each again as it
opens its socket)."""

from __future__ import annotations

import ipaddress
import socket

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known NAT64 prefix
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated, still routed inside some sites
# Metadata and control services at public-looking addresses (Azure's wire server)
_METADATA = {ipaddress.ip_address("168.63.129.16")}


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and is delivered to: mapped
    (::ffff:a.b.c.d), 6to4 (2002:aabb:ccdd::/48), NAT64 (64:ff9b::a.b.c.d)
    or Teredo's client."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_kind(address: str) -> str | None:
    """Why an IP address is not a public one (loopback, private, link-local,
    which holds cloud metadata services, ...), or None when it is public.
    An IPv6 address that carries an IPv4 one is judged by the IPv4 one."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6:
        assert isinstance(ip, ipaddress.IPv6Address)
        if ip in _SITE_LOCAL:
            return "private (site-local)"
        ip = _embedded_ipv4(ip) or ip
    if ip in _METADATA:
        return "cloud metadata"
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


def host_kind(host: str) -> str | None:
    """address_kind of a host named in a URL, without asking DNS: for a
    literal address, and for the names that always mean this machine."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        return address_kind(host)
    except ValueError:
        return None


def resolves_inside(host: str, port: int | None) -> bool:
    """Whether `host` is, or resolves to, a non-public address (a feed the
    user configured on an internal host). A name that does not resolve
    counts as public: the guard then stays on."""
    if host_kind(host):
        return True
    try:
        infos = socket.getaddrinfo(host, port or 80, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        return False
    return any(address_kind(str(i[4][0])) for i in infos)


class BlockedAddress(Exception):
    """A link found in content resolved to an address it may not reach."""


def refusal(address: str, allow: tuple) -> str | None:
    """Why a guarded fetch may not connect to `address` (its kind), or None
    when it is public or inside one of the `allow` networks."""
    kind = address_kind(address)
    if kind and not any(ipaddress.ip_address(address.split("%", 1)[0]) in n for n in allow):
        return kind
    return None


def vetted(host: str, port: int, allow: tuple) -> list[str]:
    """Every address `host` resolves to, when all of them may be reached
    (raises BlockedAddress naming the first that may not). The transport
    then connects to these addresses and no others, so a second DNS answer
    cannot slip in between the check and the connection; raises
    socket.gaierror when the name does not resolve."""
    infos = socket.getaddrinfo(host.strip("[]"), port, 0, socket.SOCK_STREAM)
    found: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        kind = refusal(addr, allow)
        if kind:
            raise BlockedAddress(f"{host} resolves to {addr}, a {kind} address")
        if addr not in found:
            found.append(addr)
    return found
