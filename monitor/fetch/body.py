"""A response body as it arrives, piece by piece from the transport: decoded
here with bounded output (a gzip bomb grows memory by one piece at a time),
counted against max_bytes as it grows, and given up on the moment it passes.

libcurl is told nothing of Content-Encoding (it would decode without a
bound): the fetcher sends Accept-Encoding itself and the pieces come here
as they were sent."""

from __future__ import annotations

import zlib

from monitor.fetch.errors import FetchError
from monitor.fetch.headers import Headers
from monitor.fetch.limits import Decoder

_DECODED = ("gzip", "x-gzip", "deflate")


def too_large(url: str, cap: int) -> FetchError:
    return FetchError("too_large", f"body larger than {cap} bytes", url=url)


class Body:
    """The body of one response. feed() returns True once no more is
    wanted (a peek has its bytes); it raises FetchError when the body is
    too large or not valid in its Content-Encoding."""

    __slots__ = ("url", "status", "cap", "peek", "coding", "_decoder", "_parts", "_total")

    def __init__(self, url: str, status: int, headers: Headers, cap: int, peek: bool = False):
        self.url = url
        self.status = status
        self.cap = cap
        self.peek = peek  # the first `cap` bytes of an error page, errors ignored
        coding = headers.get("Content-Encoding", "").strip().lower()
        self.coding = coding
        # Codings we did not ask for (br, zstd) are kept as sent: the parsers
        # then see bytes they cannot read, and say so, as with any garbage.
        self._decoder = Decoder(coding) if coding in _DECODED else None
        self._parts: list[bytes] = []
        self._total = 0
        if not peek and coding in ("", "identity"):
            declared = headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise too_large(url, cap)

    def feed(self, raw: bytes) -> bool:
        decoder = self._decoder
        if decoder is None:
            return self._add(raw)
        try:
            for piece in decoder.feed(raw):
                if self._add(piece):
                    return True
        except zlib.error as e:
            if self.peek:
                return True
            raise self._invalid(e) from None
        return False

    def _add(self, piece: bytes) -> bool:
        self._total += len(piece)
        if self._total > self.cap:
            if self.peek:
                self._parts.append(piece[: len(piece) - (self._total - self.cap)])
                return True
            raise too_large(self.url, self.cap)
        self._parts.append(piece)
        return self.peek and self._total == self.cap

    def finish(self) -> bytes:
        """The whole body, decoded."""
        if self._decoder is not None and not self.peek:
            tail = self._decoder.flush()
            if tail:
                self._add(tail)
        return b"".join(self._parts)

    def head(self) -> bytes:
        """What a peek read."""
        return b"".join(self._parts)

    def _invalid(self, e: zlib.error) -> FetchError:
        return FetchError(
            "http",
            f"http {self.status} body is not valid {self.coding}: {e}",
            status=self.status,
            url=self.url,
        )
