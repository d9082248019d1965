"""The limits that hold while a response is read: the total deadline (and
the stop event), a watchdog that shuts the sockets of a transfer blocked
past it (or silent for read_timeout), and a Content-Encoding decoder with
bounded output per call."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from typing import Protocol

from monitor.fetch.errors import FetchError

CHUNK = 64 * 1024
_WATCHDOG_TICK = 0.1


class Deadline:
    """Why a fetch must end now, if it must."""

    def __init__(self, seconds: float, stop: threading.Event | None):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.stop = stop

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired_reason(self) -> str | None:
        if self.stop is not None and self.stop.is_set():
            return "cancelled"
        if time.monotonic() >= self.at:
            return "timeout"
        return None

    def error(self, reason: str, url: str) -> FetchError:
        if reason == "cancelled":
            return FetchError("cancelled", "fetch cancelled: the service is stopping", url=url)
        return FetchError("timeout", f"deadline of {self.seconds:g} s exceeded", url=url)

    def check(self, url: str) -> None:
        reason = self.expired_reason()
        if reason:
            raise self.error(reason, url)


class Watched(Protocol):
    """A transfer in flight, as the watchdog sees it."""

    def due(self, now: float) -> str | None: ...

    def kill(self, reason: str) -> bool: ...


class Watchdog:
    """One daemon thread per Fetcher that ends a transfer blocked on a silent
    server: past its deadline, its stop event set, or no data for
    read_timeout seconds (transfer.due says which). transfer.kill shuts its
    sockets down, so the blocked read returns at once. Transfers that make
    progress are stopped between pieces anyway."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, Watched] = {}
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def watch(self, transfer: Watched) -> None:
        with self._lock:
            self._active[id(transfer)] = transfer
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fetch-watchdog", daemon=True
                )
                self._thread.start()

    def unwatch(self, transfer: Watched) -> None:
        with self._lock:
            self._active.pop(id(transfer), None)

    def close(self) -> None:
        self._closed.set()

    def _run(self) -> None:
        while not self._closed.wait(_WATCHDOG_TICK):
            now = time.monotonic()
            with self._lock:
                if not self._active:  # idle: end; the next watch() starts a new thread
                    self._thread = None
                    return
                due = [(k, t, t.due(now)) for k, t in self._active.items()]
                # killed under the lock: a transfer that is being unwatched
                # (its request done) cannot have the next one killed instead
                for key, transfer, reason in due:
                    if reason and transfer.kill(reason):
                        self._active.pop(key, None)


class Decoder:
    """Incremental Content-Encoding decoder with bounded output per call."""

    def __init__(self, coding: str):
        self.coding = coding
        self._first = True
        if coding in ("gzip", "x-gzip"):
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            self._obj = zlib.decompressobj()

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._first and data:
            self._first = False
            # deflate is zlib-wrapped per the RFC but raw from some servers.
            if self.coding == "deflate" and not (
                len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            ):
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        while data:
            if self._obj.eof:
                if self.coding == "deflate" or not data.startswith(b"\x1f\x8b"):
                    return  # padding or trailing bytes after the stream
                self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the next gzip member
            before = len(data)
            out = self._obj.decompress(data, CHUNK)
            data = self._obj.unused_data if self._obj.eof else self._obj.unconsumed_tail
            if out:
                yield out
            elif len(data) >= before:
                return

    def flush(self) -> bytes:
        try:
            return self._obj.flush()
        except zlib.error:
            return b""
