"""The HTTP endpoint under slow and oversized requests: half-sent requests
cost a socket, not a thread; their headers have a deadline; the oldest give
way when the connections reach their limit; /healthz keeps answering."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from monitor.httpapi import HttpApi, Limits


@pytest.fixture
def api():
    a = HttpApi(
        "127.0.0.1",
        0,
        health=lambda: (True, {"status": "ok"}),
        ready=lambda: (True, {"status": "ok"}),
        metrics=lambda: b"up 1\n",
        limits=Limits(
            max_connections=50, header_timeout=1.0, max_header_bytes=4096, max_body_bytes=2048
        ),
    ).start()
    yield a
    a.close()


def half_sent(api, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.create_connection(api.address, timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1")
        out.append(s)
    return out


def closed_by_server(s: socket.socket) -> bool:
    """Whether the server ends the connection (reading until it does)."""
    s.settimeout(20)
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def test_healthz_answers_beside_400_half_sent_requests(api):
    held = half_sent(api, 400)
    try:
        with urllib.request.urlopen(api.url + "/healthz", timeout=10) as r:
            assert r.status == 200 and b'"ok"' in r.read()
        # every slow request is dropped: the oldest to make room, the rest at the header deadline
        assert all(closed_by_server(s) for s in held)
    finally:
        for s in held:
            s.close()


def test_oversized_headers_and_body_are_refused(api):
    req = urllib.request.Request(api.url + "/healthz", headers={"X-Big": "a" * 8000})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 431
    req = urllib.request.Request(api.url + "/healthz", data=b"x" * 4096, method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 413
