"""The dashboard in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) against a running `monitor run` with a
loopback feed and a loopback webhook: the flows a reader clicks through."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from httpserver import LocalServer
from receivers import WebhookReceiver
from webdata import BASELINE, NEW, RULES, feed, hostile_item

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
    pytest.skip(
        "browser tests skipped: install Debian's chromium and chromium-driver (.ci/run does)",
        allow_module_level=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """`monitor run` in its own process, with its pages on loopback."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.site = LocalServer().start()
        self.site.add("/feed.xml", feed(*BASELINE), content_type="application/rss+xml")
        self.hook = WebhookReceiver().__enter__()
        self.hook.status = 500  # every first send fails, and one attempt makes a dead letter
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp / "config.yaml"
        self.config.write_text(
            textwrap.dedent(f"""\
            state: {tmp / "monitor.db"}
            rules: {RULES}
            channels:
              hook:
                urls: ["{self.hook.url()}"]
                default: true
            sources:
              - name: wire
                kind: rss
                url: {self.site.url("/feed.xml")}
                interval: 1h
            delivery: {{max_attempts: 1, retry_base: 1s}}
            fetch: {{per_host_delay: 0}}
            http: {{listen: "127.0.0.1:{self.port}"}}
            reload: {{watch: false}}
            """),
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        self.log = open(tmp / "monitor.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(self.config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        for _ in range(300):
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    body = json.loads(r.read())
                if body.get("last_cycle_seconds_ago") is not None:
                    return  # the baseline poll is done
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError("monitor did not start: " + (self.tmp / "monitor.log").read_text())

    def publish(self) -> None:
        self.site.add(
            "/feed.xml", feed(*BASELINE, *NEW, hostile_item()), content_type="application/rss+xml"
        )

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
        self.hook.__exit__(None, None, None)
        self.site.stop()


@pytest.fixture(scope="module")
def running():
    tmp = Path(tempfile.mkdtemp(prefix="monitor-browser-"))
    r = Running(tmp)
    yield r
    r.close()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(running):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="monitor-chromium-")
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    driver.downloads = Path(tempfile.mkdtemp(prefix="monitor-downloads-"))
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(driver.downloads)}
    )
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def until(driver, check, timeout: float = 30.0, refresh: bool = True):
    """Wait for `check(driver)` to hold, reloading the page between looks."""

    def look(d):
        got = check(d)
        if not got and refresh:
            d.refresh()
        return got

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(look)


def submit(driver, button) -> None:
    """Click a form's button (or a link) and wait until the page it leads to
    has replaced this one: the new document lacks the mark set on the old."""
    driver.execute_script("window.monitorTestOldPage = true")
    button.click()

    def replaced(d) -> bool:
        try:
            return d.execute_script(
                "return window.monitorTestOldPage === undefined && document.readyState === 'complete'"
            )
        except WebDriverException:  # between the two documents
            return False

    WebDriverWait(driver, 30).until(replaced)


def no_dialog(driver) -> bool:
    try:
        dialog = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    dialog.dismiss()
    return False


def precision_of(driver, running, rule: str) -> str:
    driver.get(running.url + "/rules")
    return driver.find_element(By.CSS_SELECTOR, f"#rule-{rule} .precision7").text


def test_a_new_matching_story_appears_after_a_poll(running, browser):
    browser.get(running.url + "/")
    assert "train stations" not in browser.page_source
    running.publish()
    browser.get(running.url + "/sources")
    submit(browser, browser.find_element(By.CSS_SELECTOR, 'button[data-source="wire"]'))
    browser.get(running.url + "/")
    until(browser, lambda d: "train stations" in d.page_source)
    row = browser.find_element(By.XPATH, "//li[contains(., 'train stations')]")
    assert "facial-recognition-en" in row.text


def test_a_hostile_title_shows_as_text_and_opens_no_dialog(running, browser):
    browser.get(running.url + "/")
    until(browser, lambda d: "alert(1)" in d.page_source)
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".title")]
    assert any(t.startswith("<script>alert(1)</script><img src=x onerror=") for t in titles)
    assert not browser.find_elements(By.CSS_SELECTOR, "main script, main img")
    assert no_dialog(browser)
    submit(
        browser, browser.find_element(By.XPATH, "//li[contains(., 'alert(1)')]//a[text()='why?']")
    )
    assert "<script>alert(1)</script>" in browser.find_element(By.TAG_NAME, "h1").text
    assert no_dialog(browser)


def test_not_relevant_changes_the_rules_precision(running, browser):
    rule = "facial-recognition-en"
    assert precision_of(browser, running, rule) == "–"
    browser.get(running.url + "/")
    row = browser.find_element(By.XPATH, "//li[contains(., 'train stations')]")
    submit(browser, row.find_element(By.CSS_SELECTOR, f'button.bad[data-rule="{rule}"]'))
    assert (
        "not relevant" in browser.find_element(By.XPATH, "//li[contains(., 'train stations')]").text
    )
    assert precision_of(browser, running, rule) == "0% (0/1)"
    browser.get(running.url + "/")
    row = browser.find_element(By.XPATH, "//li[contains(., 'alert(1)')]")
    submit(browser, row.find_element(By.CSS_SELECTOR, f'button.good[data-rule="{rule}"]'))
    assert precision_of(browser, running, rule) == "50% (1/2)"


def test_export_the_feedback(running, browser):
    browser.get(running.url + "/feedback")
    browser.find_element(By.ID, "export-jsonl").click()
    path = browser.downloads / "feedback.jsonl"
    WebDriverWait(browser, 20).until(lambda d: path.exists() and path.stat().st_size > 0)
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_title = {i["title"]: i for i in items}
    assert by_title["Police roll out live facial recognition at train stations"]["labels"] == []
    hostile = next(i for t, i in by_title.items() if t.startswith("<script>"))
    assert hostile["labels"] == ["facial_recognition"]
    cli = subprocess.run(
        [sys.executable, "-m", "monitor", "feedback", "export", "--config", str(running.config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=running.tmp,
    )
    assert cli.returncode == 0, cli.stderr
    assert [json.loads(x) for x in cli.stdout.splitlines()] == items


def test_retry_a_dead_letter(running, browser):
    browser.get(running.url + "/delivery")
    until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.dead tr[id^=dead-]"))
    dead = browser.find_elements(By.CSS_SELECTOR, "table.dead tr[id^=dead-]")
    row_id = dead[0].get_attribute("id")
    running.hook.status = 200  # the webhook is back
    submit(browser, dead[0].find_element(By.TAG_NAME, "button"))
    until(browser, lambda d: not d.find_elements(By.ID, row_id))
    WebDriverWait(browser, 30).until(lambda d: running.hook.posts)
    browser.get(running.url + "/")
    assert "hook: sent" in browser.page_source


def test_the_playground_on_pasted_text_and_a_pasted_rule(running, browser):
    browser.get(running.url + "/rules/playground")
    browser.find_element(By.ID, "pg-text").send_keys(
        "Stadium installs facial recognition turnstiles\nFans are scanned at the gate."
    )
    submit(browser, browser.find_element(By.ID, "pg-run"))
    assert "facial-recognition-en: MATCH" in browser.find_element(By.TAG_NAME, "main").text
    browser.find_element(By.ID, "pg-yaml").send_keys(
        "rules:\n- id: turnstiles\ntitle: Turnstiles\nmatch: {all: [stadium, turnstiles]}\n".replace(
            "\nt", "\n  t"
        ).replace("\nm", "\n  m")
    )
    submit(browser, browser.find_element(By.ID, "pg-run"))
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "turnstiles: MATCH" in text and "facial-recognition-en: MATCH" not in text
    yaml = browser.find_element(By.ID, "pg-yaml")
    yaml.clear()
    yaml.send_keys("rules:\n  - id: bad\n    title: x\n    match: {regex: '(unclosed'}\n")
    submit(browser, browser.find_element(By.ID, "pg-run"))
    assert "pasted rules:4:" in browser.find_element(By.CSS_SELECTOR, "ul.errors").text


def test_add_and_remove_a_silence(running, browser):
    browser.get(running.url + "/delivery")
    form = browser.find_element(By.ID, "silence-form")
    Select(form.find_element(By.NAME, "rule_id")).select_by_value("data-breach-en")
    form.find_element(By.NAME, "reason").send_keys("a noisy week")
    submit(browser, form.find_element(By.TAG_NAME, "button"))
    table = browser.find_element(By.CSS_SELECTOR, "table.silences")
    assert "data-breach-en" in table.text and "a noisy week" in table.text
    submit(browser, table.find_element(By.XPATH, ".//button[text()='Remove']"))
    assert "No rule is silenced" in browser.find_element(By.TAG_NAME, "main").text
