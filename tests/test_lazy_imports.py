"""`monitor once` imports what its config uses: the source kinds of its
sources only (the registry loads a kind when first asked for), and none
of what other commands need."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from monitor.config import SourceConfig
from monitor.sources.config import SHARED
from monitor.sources.registry import _WHERE, KINDS, PLAIN

ROOT = Path(__file__).resolve().parent.parent
OTHER_KINDS = (
    "monitor.sources.html",
    "monitor.sources.sitemap",
    "monitor.sources.jsonapi",
    "monitor.sources.newsrss",
    "monitor.sources.gdelt",
    "monitor.sources.mastodon",
    "monitor.sources.hackernews",
    "monitor.sources.telegram",
)
# runs the real command, then prints the monitor's modules it imported
PROBE = (
    "import atexit, json, runpy, sys\n"
    "atexit.register(lambda: print(json.dumps(sorted(sys.modules))))\n"
    "sys.argv = ['monitor', 'once', '--config', sys.argv[1]]\n"
    "runpy.run_module('monitor', run_name='__main__')\n"
)


def once_modules(tmp_path: Path, sources: str) -> set[str]:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"state: {tmp_path / 'state.db'}\nrules: {ROOT / 'rules'}\nsources:\n{sources}"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "MONITOR_NO_PROGRESS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_once_with_rss_sources_imports_no_other_kind(tmp_path):
    sources = "".join(
        f"  - {{name: s{i}, kind: rss, enabled: false, url: 'http://127.0.0.1:9/{i}.xml'}}\n"
        for i in range(3)
    )
    modules = once_modules(tmp_path, sources)
    assert not modules & set(OTHER_KINDS)
    # nor the feed reader itself until a feed is read, nor RE2 for rules from the cache
    assert not modules & {"monitor.sources.rss", "monitor.sources.fastfeed", "lxml.etree"}
    assert "monitor.scoring" not in modules
    assert "re2" not in once_modules(tmp_path, sources)  # second run: rules from the cache


def test_a_feed_read_loads_its_kind(tmp_path, http_server):
    http_server.add_fixture("/feed.xml", "wordpress_rss2.xml", "application/rss+xml")
    url = http_server.url("/feed.xml")
    modules = once_modules(tmp_path, f"  - {{name: wire, kind: rss, url: '{url}'}}\n")
    assert "monitor.sources.rss" in modules
    assert not modules & set(OTHER_KINDS)


def test_a_kind_in_the_config_is_imported_and_checked(tmp_path):
    sources = (
        "  - {name: a, kind: rss, enabled: false, url: 'http://127.0.0.1:9/a.xml'}\n"
        "  - {name: b, kind: html, enabled: false, url: 'http://127.0.0.1:9/',"
        " select: {item: article}}\n"
    )
    modules = once_modules(tmp_path, sources)
    assert "monitor.sources.html" in modules
    assert not modules & (set(OTHER_KINDS) - {"monitor.sources.html"})


def test_another_kinds_option_is_still_refused_by_name():
    try:
        SourceConfig.model_validate(
            {"name": "a", "kind": "rss", "url": "http://a.example/", "hashtag": "privacy"}
        )
    except ValueError as e:
        assert "'hashtag' is only for mastodon sources, not rss" in str(e)
    else:
        raise AssertionError("a mastodon option on an rss source was accepted")


def test_shared_options_and_the_kinds_options_cover_every_field_once():
    owned = [o for name in KINDS for o in KINDS[name].options]
    assert not SHARED & set(owned)
    assert SHARED | set(owned) == set(SourceConfig.model_fields)
    assert all(KINDS[name].name == name for name in KINDS)


def test_the_plain_kinds_declare_nothing_but_their_parse():
    """A plain kind is served by a stand-in with every default until it
    reads a document; its own declaration must say no more than that."""
    for name, (module, attribute) in _WHERE.items():
        real = getattr(importlib.import_module(f"monitor.sources.{module}"), attribute)
        declared = (real.options, real.check, real.search, real.robots)
        assert (name in PLAIN) == (declared == ((), None, None, False)), name
