"""A SOCKS5 proxy on loopback (RFC 1928, with RFC 1929 username and
password) for the fetcher's proxy tests. It records every CONNECT as the
client named its destination (a name for socks5h, an address for socks5)
and every login, resolves names from its own table, and relays bytes."""

from __future__ import annotations

import socket
import struct
import threading


def _exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        more = conn.recv(n - len(data))
        if not more:
            raise ConnectionError("client went away")
        data += more
    return data


class SocksProxy:
    def __init__(
        self,
        user: str | None = None,
        password: str | None = None,
        names: dict[str, str] | None = None,
    ):
        self.user = user
        self.password = password
        self.names = names or {}
        self.connects: list[tuple[str, int]] = []
        self.logins: list[tuple[str, str]] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, scheme: str = "socks5h", credentials: str = "") -> str:
        at = f"{credentials}@" if credentials else ""
        return f"{scheme}://{at}127.0.0.1:{self.port}"

    def __enter__(self) -> SocksProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handshake(conn)
        except (OSError, ConnectionError):
            pass
        finally:
            conn.close()

    def _handshake(self, conn: socket.socket) -> None:
        _version, count = _exact(conn, 2)
        methods = _exact(conn, count)
        method = 2 if self.user is not None else 0
        if method not in methods:
            conn.sendall(b"\x05\xff")
            return
        conn.sendall(bytes([5, method]))
        if method == 2:
            _exact(conn, 1)
            user = _exact(conn, _exact(conn, 1)[0]).decode()
            password = _exact(conn, _exact(conn, 1)[0]).decode()
            self.logins.append((user, password))
            good = (user, password) == (self.user, self.password)
            conn.sendall(b"\x01\x00" if good else b"\x01\x01")
            if not good:
                return
        _version, _command, _reserved, kind = _exact(conn, 4)
        if kind == 1:
            host = socket.inet_ntoa(_exact(conn, 4))
        elif kind == 3:
            host = _exact(conn, _exact(conn, 1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, _exact(conn, 16))
        (port,) = struct.unpack("!H", _exact(conn, 2))
        self.connects.append((host, port))
        try:
            upstream = socket.create_connection((self.names.get(host, host), port), timeout=5)
        except OSError:
            conn.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")  # connection refused
            return
        conn.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        with upstream:
            upstream.settimeout(None)
            back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
            back.start()
            _pipe(conn, upstream)
            back.join(5)


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
