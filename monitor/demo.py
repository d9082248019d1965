"""`monitor demo`: the whole pipeline, offline, in a few seconds.

Bundled news sites (an RSS feed, an Atom feed, an English listing page with
no feed and a GBK-encoded Chinese listing) are served on a loopback port in
two editions. The first poll is the silent baseline; then the sites publish
new stories and the second poll prints the alerts the shipped rules raise.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path

from . import log
from .config import Config, FetchSettings, Select, SourceConfig
from .service import Monitor, load_checked_rules

# path on the demo server -> (file in an edition folder, content type)
ROUTES = {
    "/feed/": ("feed.xml", "application/rss+xml; charset=UTF-8"),
    "/notes/atom.xml": ("atom.xml", "application/atom+xml"),
    "/tech/": ("tech.html", "text/html; charset=utf-8"),
    "/zh/": ("zh.html", "text/html; charset=gb2312"),  # really GBK, as on many real sites
}


class DemoSite:
    """A loopback web server whose pages change when `edition` changes."""

    def __init__(self, root: Path, edition: str = "morning"):
        self.root = root
        self.edition = edition
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                route = ROUTES.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                body = (site.root / site.edition / route[0]).read_bytes()
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", route[1])
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> DemoSite:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def demo_sources(base: str) -> list[SourceConfig]:
    return [
        SourceConfig(name="rights-and-wires", kind="rss", url=f"{base}/feed/", interval=900.0),
        SourceConfig(
            name="liberty-notes", kind="rss", url=f"{base}/notes/atom.xml", interval=900.0
        ),
        SourceConfig(
            name="business-weekly-tech",
            kind="html",
            url=f"{base}/tech/",
            interval=1800.0,
            timezone="Asia/Shanghai",
            select=Select(
                item="div.news-list dl.item",
                title="p.tit a",
                link="p.tit a",
                summary="p.lead",
                published="span.date",
            ),
        ),
        SourceConfig(
            name="zh-tech",
            kind="html",
            url=f"{base}/zh/",
            interval=1800.0,
            lang="zh",
            timezone="Asia/Shanghai",
            select=Select(
                item="ul.newslist li", title="a", link="a", summary="p", published="span.time"
            ),
        ),
    ]


def run_demo(rules: Path, verbose: bool = False) -> int:
    if not verbose:
        log.setup("warning")
    root = Path(str(files("monitor") / "demo_site"))
    with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp, DemoSite(root) as site:
        # Every demo site is on one loopback host: no per-host delay is
        # needed, and one fetch at a time keeps the sources in their order,
        # so the same outlet's copy of a shared story alerts on every run.
        config = Config(
            state=Path(tmp) / "demo.db",
            rules=rules,
            sources=demo_sources(site.url),
            fetch=FetchSettings(per_host_delay=0, per_host_concurrency=1),
        )
        ruleset, problems = load_checked_rules(config)
        for problem in problems:
            print(f"rule problem: {problem}")
        if not ruleset.rules:
            print("error: no rule could be loaded; the demo needs the shipped rules (--rules DIR)")
            return 2
        print(
            f"Demo news sites on {site.url}: {len(config.sources)} sources, "
            f"{len(ruleset.rules)} rules from {rules}\n"
        )
        mon = Monitor(config, ruleset)
        try:
            print("1) First poll. A new source's current stories are a silent baseline:")
            first = mon.cycle(mon.sources)
            for p in first.polls:
                print(
                    f"   {p.source:<22} {'ok' if p.ok else 'FAILED ' + str(p.error)}: {p.new} stories stored, "
                    f"no alerts"
                )
            site.edition = "afternoon"
            print(
                "\n2) The sites publish new stories. Second poll; alerts go to standard output "
                "(no channel is configured):\n"
            )
            second = mon.cycle(mon.sources)
            new = sum(p.new for p in second.polls)
            matched = sum(p.matched for p in second.polls)
            print(
                f"Summary: {new} new stories, {matched} matched a rule, {second.delivery.sent} alerts delivered. "
                "The others matched no rule, or were a copy of a story already seen."
            )
            print(
                "Next: copy config.example.yaml to config.yaml, set a channel, and run "
                "`monitor run --config config.yaml`."
            )
            failed = [p for p in first.polls + second.polls if not p.ok]
            return 1 if failed else 0
        finally:
            mon.close()
