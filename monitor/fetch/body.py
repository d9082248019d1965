"""Reading a response body under the fetch limits: in pieces as they come,
decoded here with bounded output (a gzip bomb grows memory by one piece at
a time), the deadline and the stop event checked between pieces, and the
watchdog ready to shut a read that a silent server holds."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from urllib3 import BaseHTTPResponse

from monitor.config import FetchSettings
from monitor.fetch.errors import FetchError, classify
from monitor.fetch.limits import CHUNK, Deadline, Decoder, Watchdog


class BodyReader:
    """The body reads of one Fetcher (the settings are read at each call)."""

    def __init__(self, settings: FetchSettings, watchdog: Watchdog):
        self.settings = settings
        self._watchdog = watchdog

    def read(self, resp: BaseHTTPResponse, url: str, deadline: Deadline) -> bytes:
        """The whole body, decoded, at most max_bytes of it."""
        cap = self.settings.max_bytes
        coding = resp.headers.get("Content-Encoding", "").strip().lower()
        if coding in ("", "identity"):
            decoder: Decoder | None = None
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise self.too_large(url)
        elif coding in ("gzip", "x-gzip", "deflate"):
            decoder = Decoder(coding)
        else:
            decoder = None  # not one we asked for; let urllib3 decode (bounded in urllib3 >= 2.6)
        let_urllib3_decode = decoder is None and coding not in ("", "identity")

        parts: list[bytes] = []
        total = 0
        token = self._watchdog.watch(deadline, resp)
        try:
            for raw in self._pieces(resp, url, deadline, let_urllib3_decode):
                pieces = decoder.feed(raw) if decoder else (raw,)
                for piece in pieces:
                    total += len(piece)
                    if total > cap:
                        raise self.too_large(url)
                    parts.append(piece)
                    deadline.check(url)
                deadline.check(url)
            if decoder:
                tail = decoder.flush()
                total += len(tail)
                if total > cap:
                    raise self.too_large(url)
                parts.append(tail)
        except zlib.error as e:
            raise FetchError(
                "http",
                f"http {resp.status} body is not valid {coding}: {e}",
                status=resp.status,
                url=url,
            ) from None
        finally:
            self._watchdog.unwatch(token)
        return b"".join(parts)

    def peek(
        self, resp: BaseHTTPResponse, url: str, deadline: Deadline, limit: int = 8192
    ) -> bytes:
        """The first `limit` bytes of an error response (to tell a bot wall
        from a plain error); empty when they cannot be read quickly."""
        coding = resp.headers.get("Content-Encoding", "").strip().lower()
        decoder = Decoder(coding) if coding in ("gzip", "x-gzip", "deflate") else None
        out = b""
        deadline = Deadline(max(0.05, min(2.0, deadline.remaining())), deadline.stop)
        token = self._watchdog.watch(deadline, resp)
        try:
            for raw in self._pieces(resp, url, deadline, False):
                for piece in decoder.feed(raw) if decoder else (raw,):
                    out += piece[: limit - len(out)]
                    if len(out) >= limit:
                        return out
        except (FetchError, zlib.error):
            pass
        finally:
            self._watchdog.unwatch(token)
        return out

    def _pieces(
        self, resp: BaseHTTPResponse, url: str, deadline: Deadline, decode: bool
    ) -> Iterator[bytes]:
        read = resp.read1
        while True:
            deadline.check(url)
            try:
                data = read(CHUNK, decode_content=decode)
            except Exception as e:  # urllib3 and socket errors mid-body
                if deadline.killed:
                    raise deadline.error(deadline.killed, url) from None
                reason = deadline.expired_reason()
                if reason:
                    raise deadline.error(reason, url) from None
                raise classify(e, url, self.settings.read_timeout) from None
            if deadline.killed:
                raise deadline.error(deadline.killed, url)
            if not data:
                return
            yield data

    def too_large(self, url: str) -> FetchError:
        return FetchError("too_large", f"body larger than {self.settings.max_bytes} bytes", url=url)
