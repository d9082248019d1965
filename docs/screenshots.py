"""Screenshots of the dashboard's main pages, from the demo data, for the README.

    python docs/screenshots.py [--out docs/screenshots]

The demo's news sites (monitor/demo.py) are served on loopback and polled
twice by a real monitor (the baseline, then the new stories), with a
webhook channel that is down, so that some deliveries fail and one becomes
a dead letter. A few verdicts and a silence are added, the monitor's own
endpoint serves the pages, and headless Chromium (Debian's chromium and
chromium-driver, through Selenium) saves one PNG per page.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor import log  # noqa: E402
from monitor.config import ChannelConfig, Config, DeliverySettings, FetchSettings  # noqa: E402
from monitor.demo import DemoSite, demo_sources  # noqa: E402
from monitor.httpapi import HttpApi  # noqa: E402
from monitor.service import Monitor, load_checked_rules  # noqa: E402
from monitor.store import web as store_web  # noqa: E402
from monitor.web import Dashboard, create_app  # noqa: E402

PAGES = {
    "matches": "/",
    "story": None,  # the first matched story's page
    "feedback": "/feedback?q=%E4%BA%BA%E8%84%B8",  # a search for 人脸
    "sources": "/sources",
    "rules": "/rules",
    "playground": None,  # filled in and run
    "delivery": "/delivery",
    "status": "/status",
}


def demo_monitor(tmp: Path, site) -> Monitor:
    config = Config(
        state=tmp / "demo.db",
        rules=ROOT / "rules",
        sources=demo_sources(site.url),
        fetch=FetchSettings(per_host_delay=0),
        channels={"newsroom": ChannelConfig(urls=["json://127.0.0.1:9/hook"], default=True)},
        delivery=DeliverySettings(max_attempts=3),
    )
    ruleset, _ = load_checked_rules(config)
    mon = Monitor(config, ruleset)
    mon.cycle(mon.sources)
    site.edition = "afternoon"
    mon.cycle(mon.sources)
    return mon


def add_triage(mon: Monitor) -> None:
    store = mon.store
    rows = store.match_page(store_web.MatchFilter(), limit=20).rows
    for k, row in enumerate(rows[:4]):
        rule = row.matches[0]["rule_id"]
        store.record_verdict(row.id, "relevant" if k != 1 else "not_relevant", rule)
    first = store.claim_deliveries(time.time() + 86400, 1.0)
    if first:
        store.mark_failed(first[0].id, "HTTP 410 Gone: the webhook was removed", None)
    store.add_silence("personal-data-weak-signals-en", time.time() + 6 * 3600, "noisy this week")


def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="monitor-chromium-")
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    service = webdriver.ChromeService(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service), profile


def shoot(driver, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 600), 1800))
    driver.save_screenshot(str(path))


def main() -> int:
    from selenium.webdriver.common.by import By

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    log.setup("error")
    args.out.mkdir(parents=True, exist_ok=True)
    root = Path(str(files("monitor") / "demo_site"))
    with tempfile.TemporaryDirectory(prefix="monitor-shots-") as tmp, DemoSite(root) as site:
        mon = demo_monitor(Path(tmp), site)
        add_triage(mon)
        app = create_app(
            Dashboard(
                state=mon.config.state,
                rules=lambda: mon.rules,
                config=lambda: mon.config,
                health=mon.health,
                ready=mon.ready,
            )
        )
        mon.loop_alive = True  # the status page shows a running loop
        api = HttpApi(
            "127.0.0.1", 0, health=mon.health, ready=mon.ready, metrics=lambda: b"", pages=app
        ).start()
        driver, profile = browser()
        try:
            for name, path in PAGES.items():
                if name == "story":
                    driver.get(api.url + "/")
                    driver.find_element(By.LINK_TEXT, "why?").click()
                elif name == "playground":
                    driver.get(api.url + "/rules/playground")
                    driver.find_element(By.ID, "pg-text").send_keys(
                        "Transit authority tests facial recognition at ticket gates\n"
                        "Riders' faces would be matched against a list of banned passengers."
                    )
                    driver.find_element(By.ID, "pg-run").click()
                else:
                    driver.get(api.url + path)
                shoot(driver, args.out / f"{name}.png")
                print(f"{args.out / (name + '.png')}")
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)
            api.close()
            mon.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
