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
        self.recipients: list[list[str]] = []  # the envelope's RCPT TO of each message
        self.port = _free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
                sink.messages.append(
                    email.message_from_bytes(envelope.content, policy=email.policy.default)
                )
                sink.recipients.append(list(envelope.rcpt_tos))
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

    def __enter__(self) -> SmtpSink:
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
        # (path, title, time the request was read, time the answer went out) of each accepted post
        self.log: list[tuple[str, str, float, float]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                arrived = time.time()
                body = None
                if receiver.status == 200:
                    body = json.loads(raw)
                    with receiver.lock:
                        receiver.posts.append(body)
                if receiver.delay:
                    time.sleep(receiver.delay)
                if body is not None:
                    with receiver.lock:
                        receiver.log.append(
                            (self.path, body.get("title", ""), arrived, time.time())
                        )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class ChatReceiver:
    """A loopback HTTP endpoint standing in for Slack's and Discord's webhook
    hosts and Telegram's bot API. Apprise's own plugins are pointed at it (see
    `point_apprise_at`), so what lands in `posts` is exactly what those
    services would have received: (path, parsed JSON body).

    `behaviour` plays an outage: "ok", "503" (answers 503), "slow" (answers
    after `slow_seconds`, longer than the client's read timeout)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.attempts = 0
        self.behaviour = "ok"
        self.slow_seconds = 3.0
        self.accepted_at: list[float] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                import time

                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                receiver.attempts += 1
                if receiver.behaviour.isdigit():  # "503", "404": answer that status, accept nothing
                    self._answer(int(receiver.behaviour))
                    return
                if receiver.behaviour == "slow":
                    time.sleep(
                        receiver.slow_seconds
                    )  # the client has given up: nothing is accepted
                    try:
                        self._answer(503)
                    except OSError:
                        pass
                    return
                receiver.posts.append((self.path, json.loads(raw)))
                receiver.accepted_at.append(time.time())
                self._answer(
                    204 if "discord" in self.path else 200, b"" if "discord" in self.path else b"ok"
                )

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def point_apprise_at(self, monkeypatch) -> None:
        """Aim Apprise's Slack and Discord plugins at this server: their
        webhook hosts are class attributes, the rest of each plugin (payload,
        escaping, status handling) runs unchanged."""
        from apprise.plugins.discord import NotifyDiscord
        from apprise.plugins.slack import NotifySlack
        from apprise.plugins.telegram import NotifyTelegram

        monkeypatch.setattr(NotifySlack, "webhook_url", f"{self.base}/slack/services")
        monkeypatch.setattr(NotifyDiscord, "notify_url", f"{self.base}/discord/webhooks")
        monkeypatch.setattr(NotifyTelegram, "notify_url", f"{self.base}/telegram/bot")

    def of(self, prefix: str) -> list[dict]:
        return [body for path, body in self.posts if path.startswith(prefix)]

    def __enter__(self) -> ChatReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
