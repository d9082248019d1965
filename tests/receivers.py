"""Real receivers on loopback: an SMTP server (aiosmtpd) and a JSON webhook
endpoint, recording what Apprise actually delivered."""
from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """An SMTP server on 127.0.0.1; `messages` holds parsed e-mails."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.port = _free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
                sink.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def url(self, to: str = "desk@example.org") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=monitor@example.org&to={to}"

    def bodies(self) -> list[str]:
        out = []
        for m in self.messages:
            part = m.get_body(preferencelist=("plain", "html"))
            out.append(part.get_content() if part is not None else "")
        return out

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class WebhookReceiver:
    """An HTTP endpoint for Apprise's json:// plugin. `status` is what it
    answers (set 500 to play a notifier that is down); `delay` is how long it
takes to answer, after the post is recorded (a slow notifier)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if receiver.status == 200:
                    receiver.posts.append(json.loads(raw))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
