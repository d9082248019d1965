"""Full text: new stories' article pages are fetched (never the backlog),
their main text extracted and matched; links into private addresses are
refused unless allowed."""

from __future__ import annotations

from test_hostile import rss_doc

from monitor.config import Config, FetchSettings, SourceConfig
from monitor.engine import load_rules
from monitor.fulltext import extract_main_text
from monitor.service import Monitor

RULES = """\
rules:
  - id: face-recognition
    title: Facial recognition
    severity: high
    match:
      any: ["facial recognition"]
"""

ARTICLE = """<html><head><title>Council meeting</title></head><body>
<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/about">About us</a></nav>
<article><h1>Council approves new station budget</h1>
<p>The council approved the station budget on Tuesday after a long debate about maintenance costs and
staffing of the ticket offices during the coming winter months.</p>
<p>Buried in the annex is a contract for facial recognition cameras at every entrance, which council
members said they had not been told about before the vote took place.</p>
<p>A spokesperson for the transit authority said the cameras would only be used to count passengers.</p>
</article><footer>Copyright the Example Gazette. All rights reserved.</footer></body></html>"""


def test_main_text_leaves_out_navigation_and_footer():
    text = extract_main_text(ARTICLE)
    assert "facial recognition cameras" in text and "All rights reserved" not in text


def _setup(tmp_path, http_server, **fetch):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    ruleset, problems = load_rules([rules])
    assert not problems
    http_server.add("/a/old", ARTICLE, content_type="text/html")
    http_server.add("/a/new", ARTICLE, content_type="text/html")

    def feed(links):
        return rss_doc(
            [
                (l, "Council approves new station budget", http_server.url(l))  # noqa: E731
                for l in links
            ]
        )

    http_server.add("/feed.xml", feed(["/a/old"]), content_type="application/rss+xml")
    src = SourceConfig(name="gazette", kind="rss", url=http_server.url("/feed.xml"), full_text=True)
    cfg = Config(
        state=tmp_path / "s.db", sources=[src], fetch=FetchSettings(per_host_delay=0, **fetch)
    )
    mon = Monitor(cfg, ruleset)
    mon.poll(src)  # baseline
    http_server.add("/feed.xml", feed(["/a/new", "/a/old"]), content_type="application/rss+xml")
    return mon, src


def test_new_story_is_matched_on_its_article_text_and_the_backlog_is_never_fetched(
    tmp_path, http_server
):
    mon, src = _setup(tmp_path, http_server, allow_networks=["127.0.0.1/32"])
    try:
        out = mon.poll(src)
        assert out.new == 1 and out.matched == 1  # the feed's own text does not say it
        assert len(http_server.requests_to("/a/new")) == 1
        assert http_server.requests_to("/a/old") == []
    finally:
        mon.close()


def test_article_on_a_private_address_is_refused_and_the_story_kept(tmp_path, http_server, caplog):
    mon, src = _setup(tmp_path, http_server)
    try:
        out = mon.poll(src)
        assert out.ok and out.new == 1 and out.matched == 0
        assert http_server.requests_to("/a/new") == []
        assert http_server.requests_to("/robots.txt") == []  # its robots.txt is guarded too
        assert "event=article.failed" in caplog.text and "reason=blocked_address" in caplog.text
    finally:
        mon.close()


def test_article_fetches_to_one_host_are_spaced_by_the_per_host_delay():
    from monitor.fulltext import Pacer

    waits = []

    class Stop:
        def wait(self, seconds):
            waits.append(seconds)

    now = [100.0]
    pacer = Pacer(5.0, Stop(), clock=lambda: now[0])
    pacer.wait("https://a.example/1")
    now[0] += 1
    pacer.wait("https://b.example/1")
    pacer.wait("https://a.example/2")
    assert waits == [4.0]


LINKED_ARTICLE = (
    "<html><body><div class='story'>"
    + "".join(
        f"<div><a href='/p{i}'>{p}</a></div>"
        for i, p in enumerate(
            [
                "The regional health authority confirmed on Thursday that a contractor had copied "
                "the records of 52,000 patients to a personal cloud account, where they stayed for "
                "nine months before an audit found them.",
                "The records included names, dates of birth, home addresses and the clinics each "
                "patient had visited, though not the notes of their treatment, the authority said.",
                "A spokesperson said the contractor's access had been withdrawn and that the case "
                "had been passed to the police and to the data protection regulator.",
            ]
        )
    )
    + "</div><div class='comments'><p>Comment policy: we welcome debate but remove abuse. "
    "Comments are open for seven days after publication.</p></div><div class='around'>"
    "<h3>Around the web</h3><p>You won't believe these ten gadgets that everyone is buying "
    "this summer.</p></div></body></html>"
)


def test_a_short_or_boilerplate_extraction_is_retried_with_the_defaults():
    text = extract_main_text(LINKED_ARTICLE)
    assert "copied the records of 52,000 patients" in text
    assert "You won't believe" not in text
