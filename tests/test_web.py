"""The dashboard's pages through Flask's test client, over a store filled by
the real loop from a loopback feed: every page, every POST with and
without its CSRF token, sign-in, escaping, and what the pages must never show."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from webdata import RULES, build, hostile_item, kill_one_delivery

from monitor.httpapi import ListenError
from monitor.web import Dashboard, create_app
from monitor.web.auth import Limiter, PasswordHash, SignInError, check_listen, read_password

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def mon(tmp_path, http_server):
    m = build(
        tmp_path,
        http_server,
        extra=[hostile_item()],
    )
    yield m
    m.close()


def make_app(mon, **kw):
    dash = Dashboard(
        state=mon.config.state,
        rules=lambda: mon.rules,
        config=lambda: mon.config,
        health=mon.health,
        ready=mon.ready,
        **kw,
    )
    app = create_app(dash)
    app.testing = True
    return app


@pytest.fixture
def client(mon):
    app = make_app(mon)
    with app.test_client() as c:
        yield c
    app.extensions["close_stores"]()


def token(client, path="/delivery") -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def story_ids(html: str) -> list[int]:
    return [int(x) for x in dict.fromkeys(re.findall(r'href="/story/(\d+)"', html))]


def first_match(client) -> tuple[int, str]:
    html = client.get("/?rule=facial-recognition-en").get_data(as_text=True)
    sid = story_ids(html)[0]
    return sid, "facial-recognition-en"


PAGES = [
    "/",
    "/?q=breach",
    "/?rule=data-breach-en&severity=high&source=wire&lang=en&since=2020-01-01&until=2099-01-01",
    "/feedback",
    "/feedback?q=harvest",
    "/sources",
    "/rules",
    "/rules/playground",
    "/delivery",
    "/status",
    "/feedback/export.jsonl",
    "/feedback/export.yaml",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_with_a_strict_policy(client, path):
    r = client.get(path)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Frame-Options"] == "DENY"


def test_matches_page_shows_rows_with_rules_snippet_and_delivery_state(client):
    html = client.get("/").get_data(as_text=True)
    assert "Police roll out live facial recognition at train stations" in html
    assert "Retailer confirms data breach" in html
    assert "Harvest festival" not in html  # matched no rule
    assert "facial-recognition-en" in html and "data-breach-en" in html
    assert "<mark>" in html  # the terms are marked in the snippet
    assert "ops: pending" in html  # the failing channel: still pending, per channel


def test_story_page_explains_every_condition_and_links_back(client):
    sid, rule = first_match(client)
    html = client.get(f"/story/{sid}").get_data(as_text=True)
    assert f"{rule}: MATCH" in html
    assert "terms found" in html and "why:" in html  # the text of `monitor rules explain`
    assert re.search(r"<td>title</td><td>\d+–\d+</td>", html)  # a term with its position
    assert client.get("/story/999999").status_code == 404


def test_hostile_story_is_text_and_a_javascript_link_is_not_a_link(client):
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html


def test_filters_narrow_the_list_and_a_bad_date_is_named(client):
    html = client.get("/?rule=data-breach-en").get_data(as_text=True)
    assert "Retailer confirms data breach" in html and "train stations" not in html
    html = client.get("/?q=train+stations").get_data(as_text=True)
    assert "train stations" in html and "Retailer" not in html
    html = client.get("/?source=nowhere").get_data(as_text=True)
    assert "No matches for these filters" in html
    html = client.get("/?since=26/11/2026").get_data(as_text=True)
    assert "from: &#39;26/11/2026&#39; is not a date (expected YYYY-MM-DD)" in html


def test_keyset_pagination_walks_every_match_once(mon):
    app = make_app(mon, page_size=1)
    c = app.test_client()
    seen, path = [], "/"
    while path:
        html = c.get(path).get_data(as_text=True)
        seen += [i for i in story_ids(html)]
        nxt = re.search(r'rel="next" href="([^"]+)"', html)
        path = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert len(seen) == len(set(seen)) == 3
    assert seen == sorted(seen, reverse=True)  # newest first


POSTS = [
    ("/feedback", {"story_id": "1", "verdict": "relevant"}),
    ("/sources/poll", {"source": "wire"}),
    ("/delivery/retry", {"row": "all"}),
    ("/silences", {"rule_id": "data-breach-en", "for": "2h"}),
    ("/silences/remove", {"silence": "1"}),
    ("/rules/playground", {"text": "facial recognition"}),
    ("/signout", {}),
]


@pytest.mark.parametrize("path,form", POSTS)
def test_every_post_is_refused_without_its_csrf_token(client, path, form):
    r = client.post(path, data=form)
    assert r.status_code == 403
    assert "CSRF" in r.get_data(as_text=True)
    r = client.post(path, data={**form, "csrf_token": "forged"})
    assert r.status_code == 403


def test_no_get_changes_anything(client):
    for path, form in POSTS[:5]:
        assert client.get(path, query_string=form).status_code in (405, 200)
    assert "No verdicts yet" in client.get("/feedback").get_data(as_text=True)
    assert "No rule is silenced" in client.get("/delivery").get_data(as_text=True)


def test_not_relevant_changes_the_rules_precision_and_the_export(client, tmp_path):
    sid, rule = first_match(client)
    t = token(client)
    assert re.search(
        rf'id="rule-{rule}".*?precision7">–<', client.get("/rules").get_data(as_text=True), re.S
    )
    r = client.post(
        "/feedback",
        data={
            "csrf_token": t,
            "story_id": sid,
            "rule_id": rule,
            "verdict": "relevant",
            "next": "/",
        },
    )
    assert r.status_code == 303 and r.headers["Location"] == "/"
    rules = client.get("/rules").get_data(as_text=True)
    assert re.search(rf'id="rule-{rule}".*?precision7">100% \(1/1\)<', rules, re.S)
    other = story_ids(client.get("/?rule=data-breach-en").get_data(as_text=True))[0]
    client.post(
        "/feedback",
        data={
            "csrf_token": t,
            "story_id": other,
            "rule_id": rule,
            "verdict": "not_relevant",
            "topic": "data-leak",
        },
    )
    rules = client.get("/rules").get_data(as_text=True)
    assert re.search(rf'id="rule-{rule}".*?precision7">50% \(1/2\)<', rules, re.S)
    lines = [
        json.loads(x)
        for x in client.get("/feedback/export.jsonl").get_data(as_text=True).splitlines()
    ]
    by_id = {x["id"]: x for x in lines}
    assert by_id[f"story:{sid}"]["labels"] == ["facial_recognition"]
    assert by_id[f"story:{other}"]["labels"] == ["data_leak"]
    assert set(lines[0]) >= {"title", "summary", "body", "lang", "source", "labels"}
    exported = tmp_path / "verdicts.jsonl"
    exported.write_text(client.get("/feedback/export.jsonl").get_data(as_text=True))
    scored = subprocess.run(
        [sys.executable, "-m", "monitor", "rules", "score", str(exported), "--rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert scored.returncode == 0, scored.stderr  # `monitor rules score` reads the export
    assert "facial-recognition" in scored.stdout and "data-leak" in scored.stdout
    tests = client.get("/feedback/export.yaml").get_data(as_text=True)
    assert f"# rule {rule}" in tests and "no_match:" in tests and "match:" in tests
    r = client.post("/feedback", data={"csrf_token": t, "story_id": sid, "verdict": "bogus"})
    assert r.status_code == 400


def test_should_have_matched_on_any_stored_story(client):
    html = client.get("/feedback?q=harvest").get_data(as_text=True)
    sid = story_ids(html)[0]
    assert "no rule matched" in html
    client.post(
        "/feedback",
        data={
            "csrf_token": token(client),
            "story_id": sid,
            "verdict": "missed",
            "topic": "data-leak",
        },
    )
    out = client.get("/feedback/export.jsonl").get_data(as_text=True)
    assert json.loads(out.splitlines()[0])["labels"] == ["data_leak"]
    assert "should have matched, topic data-leak" in client.get("/feedback/export.yaml").get_data(
        as_text=True
    )


def test_dead_letter_retry_and_silences(mon, client):
    row = kill_one_delivery(mon)
    html = client.get("/delivery").get_data(as_text=True)
    assert f'id="dead-{row}"' in html and "HTTP 410 Gone" in html
    t = token(client)
    client.post("/delivery/retry", data={"csrf_token": t, "row": str(row)})
    assert f'id="dead-{row}"' not in client.get("/delivery").get_data(as_text=True)
    assert mon.store.outbox_counts()["dead"] == 0
    client.post(
        "/silences",
        data={"csrf_token": t, "rule_id": "data-breach-en", "for": "2h", "reason": "noisy"},
    )
    assert mon.store.silenced_rules() == {"data-breach-en"}
    r = client.post("/silences", data={"csrf_token": t, "rule_id": "data-breach-en", "for": "soon"})
    assert r.status_code == 400 and "silence: for:" in r.get_data(as_text=True)
    r = client.post("/silences", data={"csrf_token": t, "rule_id": "no-such-rule", "for": "2h"})
    assert r.status_code == 400 and "no rule" in r.get_data(as_text=True)
    sid = mon.store.silences()[0]["id"]
    client.post("/silences/remove", data={"csrf_token": t, "silence": str(sid)})
    assert mon.store.silenced_rules() == set()


def test_poll_now_makes_the_source_due_and_wakes_the_loop(mon):
    woken = []
    app = make_app(mon, wake=lambda: woken.append(1))
    c = app.test_client()
    c.post("/sources/poll", data={"csrf_token": token(c), "source": "wire"})
    assert woken == [1]
    assert [s.name for s in mon.due()] == ["wire"]
    assert c.post("/sources/poll", data={"csrf_token": token(c), "source": "x"}).status_code == 404


def test_playground_on_pasted_text_and_pasted_rules(client):
    t = token(client, "/rules/playground")
    html = client.post(
        "/rules/playground",
        data={
            "csrf_token": t,
            "text": "Airport adds facial recognition gates\nTravellers scanned.",
        },
    ).get_data(as_text=True)
    assert "facial-recognition-en: MATCH" in html
    rule = "rules:\n  - id: gates\n    title: Gates\n    match: {all: [airport, gates]}\n"
    html = client.post(
        "/rules/playground", data={"csrf_token": t, "text": "Airport adds new gates", "yaml": rule}
    ).get_data(as_text=True)
    assert "gates: MATCH" in html and "facial-recognition-en: " not in html
    bad = "rules:\n  - id: broken\n    title: x\n    match: {near: [a, b], within: -1}\n"
    html = client.post(
        "/rules/playground", data={"csrf_token": t, "text": "a b", "yaml": bad}
    ).get_data(as_text=True)
    assert re.search(r"pasted rules:4:\d+: ", html)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"b{i}: &b{i} [*{'a' if i == 0 else 'b' + str(i - 1)}, *{'a' if i == 0 else 'b' + str(i - 1)}]\n"
        for i in range(60)
    )
    html = client.post(
        "/rules/playground", data={"csrf_token": t, "text": "x", "yaml": bomb}
    ).get_data(as_text=True)
    assert "alias bomb" in html
    html = client.post("/rules/playground", data={"csrf_token": t}).get_data(as_text=True)
    assert "paste a story" in html


def test_playground_url_to_a_private_address_is_refused(client, http_server):
    url = http_server.add(
        "/article", "<html><h1>facial recognition</h1></html>", content_type="text/html"
    )
    html = client.post(
        "/rules/playground", data={"csrf_token": token(client, "/rules/playground"), "url": url}
    ).get_data(as_text=True)
    assert "url: cannot fetch" in html and "MATCH" not in html


def test_no_secret_on_any_page(tmp_path, http_server, monkeypatch):
    monkeypatch.setenv("MONITOR_WEB_PASSWORD", "correct horse battery")
    from monitor import log

    m = build(tmp_path, http_server)
    m.config.channels["ops"].urls[:] = ["json://127.0.0.1:9/hooks/T0PSECRET-token"]
    log.add_secret("json://127.0.0.1:9/hooks/T0PSECRET-token", "json://***")
    try:
        app = make_app(m)
        c = app.test_client()
        for path in PAGES:
            body = c.get(path).get_data(as_text=True)
            assert "T0PSECRET" not in body and "correct horse" not in body
    finally:
        m.close()


def test_sign_in_is_required_when_a_password_is_set(mon):
    app = make_app(mon, password=PasswordHash("s3cret pass"), limiter=Limiter(per_client=3))
    c = app.test_client()
    r = c.get("/rules")
    assert r.status_code == 302 and r.headers["Location"].startswith("/signin?next=/rules")
    assert c.post("/feedback", data={}).status_code == 403
    assert c.get("/healthz").status_code == 302  # the probes are served beside the app, not by it
    t = token(c, "/signin")
    r = c.post("/signin", data={"csrf_token": t, "password": "wrong"})
    assert r.status_code == 403
    r = c.post("/signin", data={"csrf_token": t, "password": "s3cret pass", "next": "/rules"})
    assert r.status_code == 303 and r.headers["Location"] == "/rules"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert c.get("/rules").status_code == 200
    c.post("/signout", data={"csrf_token": token(c, "/rules")})
    assert c.get("/rules").status_code == 302


def test_failed_sign_ins_are_limited(mon):
    app = make_app(mon, password=PasswordHash("s3cret pass"), limiter=Limiter(per_client=3))
    c = app.test_client()
    t = token(c, "/signin")
    codes = [
        c.post("/signin", data={"csrf_token": t, "password": f"guess{i}"}).status_code
        for i in range(4)
    ]
    assert codes == [403, 403, 403, 429]
    # even the right password is refused unheard until the window passes
    assert c.post("/signin", data={"csrf_token": t, "password": "s3cret pass"}).status_code == 429


def test_session_cookie_is_secure_behind_tls(mon):
    app = make_app(mon, password=PasswordHash("pw"), public_url="https://monitor.example.org")
    c = app.test_client()
    t = token(c, "/signin")
    r = c.post(
        "/signin", data={"csrf_token": t, "password": "pw"}, base_url="https://monitor.example.org"
    )
    assert "Secure" in r.headers["Set-Cookie"]


def test_unknown_host_is_refused_on_loopback(client):
    assert client.get("/", headers={"Host": "rebind.attacker.example"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:9108"}).status_code == 200


def test_password_from_env_or_file_and_refusal_off_loopback(tmp_path):
    assert read_password({}) is None
    assert read_password({"MONITOR_WEB_PASSWORD": "pw"}) == "pw"
    f = tmp_path / "pw"
    f.write_text("from-file\n")
    assert read_password({"MONITOR_WEB_PASSWORD_FILE": str(f)}) == "from-file"
    with pytest.raises(SignInError, match="MONITOR_WEB_PASSWORD_FILE: cannot read"):
        read_password({"MONITOR_WEB_PASSWORD_FILE": str(tmp_path / "missing")})
    with pytest.raises(SignInError, match="both set"):
        read_password({"MONITOR_WEB_PASSWORD": "a", "MONITOR_WEB_PASSWORD_FILE": str(f)})
    check_listen("127.0.0.1", None)
    check_listen("::1", None)
    with pytest.raises(SignInError, match="not a loopback address, needs a sign-in"):
        check_listen("0.0.0.0", None)
    check_listen("0.0.0.0", PasswordHash("pw"))
    h = PasswordHash("pw")
    assert h.verify("pw") and not h.verify("pw ")
    assert b"pw" not in h.digest


def test_the_service_refuses_pages_off_loopback_without_a_password(
    tmp_path, http_server, monkeypatch
):
    monkeypatch.delenv("MONITOR_WEB_PASSWORD", raising=False)
    m = build(tmp_path, http_server, listen="0.0.0.0:0")
    try:
        with pytest.raises(ListenError, match="needs a sign-in"):
            m.start_http()
        http = m.config.http.model_copy(update={"pages": False})
        m.config = m.config.model_copy(update={"http": http})  # the probes alone need no password
        m.start_http()
        assert m.api is not None
    finally:
        m.close()


def test_alerts_link_to_the_story_page_and_following_it_changes_nothing(tmp_path, http_server):
    import time

    from monitor.alerts.outbox import message_for

    m = build(tmp_path, http_server, public_url="https://monitor.example.org/")
    try:
        rows = m.store.claim_deliveries(time.time() + 86400, 1.0)
        bodies = [message_for(r, "json://127.0.0.1/x", {}).body for r in rows]
        links = [re.search(r"Triage:\s+(\S+)", b).group(1) for b in bodies]
        assert all(
            x.startswith("https://monitor.example.org/story/at?source=wire&key=") for x in links
        )
        discord = message_for(rows[0], "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", {}).body
        assert "[Why it matched, and feedback](https://monitor.example.org/story/at?" in discord
        email = message_for(
            rows[0], "mailto://127.0.0.1:2525?from=monitor@example.org&to=a@example.org", {}
        ).body
        assert '<a href="https://monitor.example.org/story/at?source=wire&amp;key=' in email
        app = make_app(m, public_url="https://monitor.example.org")
        c = app.test_client()
        path = links[0].removeprefix("https://monitor.example.org")
        r = c.get(path, base_url="https://monitor.example.org")
        assert r.status_code == 303 and re.match(r"/story/\d+$", r.headers["Location"])
        page = c.get(r.headers["Location"], base_url="https://monitor.example.org")
        html = page.get_data(as_text=True)
        assert 'method="post"' in html and 'value="relevant"' in html
        assert "No verdicts yet" in c.get(
            "/feedback", base_url="https://monitor.example.org"
        ).get_data(as_text=True)
        assert c.get("/story/at?source=wire&key=nope").status_code == 404
    finally:
        m.close()


def test_every_page_and_a_verdict_on_postgresql(tmp_path, http_server, pg_url):
    m = build(tmp_path, http_server, extra=[hostile_item()], state=pg_url)
    try:
        kill_one_delivery(m)
        app = make_app(m)
        c = app.test_client()
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 200, (path, r.get_data(as_text=True)[:300])
        sid, rule = first_match(c)
        c.post(
            "/feedback",
            data={"csrf_token": token(c), "story_id": sid, "rule_id": rule, "verdict": "relevant"},
        )
        rules = c.get("/rules").get_data(as_text=True)
        assert re.search(rf'id="rule-{rule}".*?precision7">100% \(1/1\)<', rules, re.S)
        assert "&lt;script&gt;" in c.get("/").get_data(as_text=True)
        app.extensions["close_stores"]()
    finally:
        m.close()


def test_off_loopback_the_pages_need_a_sign_in_and_the_probes_do_not(
    tmp_path, http_server, monkeypatch
):
    import urllib.error
    import urllib.request

    monkeypatch.setenv("MONITOR_WEB_PASSWORD", "a long pass phrase")
    m = build(tmp_path, http_server, listen="0.0.0.0:0")
    try:
        m.loop_alive = True
        m.start_http()
        base = f"http://127.0.0.1:{m.api.address[1]}"

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as e:
            opener.open(base + "/rules", timeout=10)
        assert e.value.code == 302 and e.value.headers["Location"].startswith("/signin")
        with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())["status"] == "ok"
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(base + "/signin", timeout=10) as r:
            page = r.read().decode()
        assert "a long pass phrase" not in page and 'type="password"' in page
    finally:
        m.close()
