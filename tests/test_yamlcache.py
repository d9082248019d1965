"""Big YAML files come from a cache by the hash of their bytes: the same
data as a fresh read, the same file:line:col when a problem needs a
position, never stale, and never in the way when the cache is broken."""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import yamlcache, yamlfile
from monitor.config import ConfigError, load_config
from monitor.engine import load_rules
from monitor.yamlfile import FileError, load_yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def big_config(path, n=600, extra=""):
    """A config over the size the cache keeps: n sources, one a line."""
    lines = ["state: state.db", "sources:"]
    for i in range(n):
        lines.append(f"  - {{name: outlet-{i}, kind: rss, url: 'http://news{i}.example/feed.xml'}}")
    path.write_text("\n".join(lines) + "\n" + extra)
    assert path.stat().st_size >= yamlcache.CACHE_MIN_BYTES
    return path


def entries():
    return sorted(yamlcache.cache_dir().glob("*.marshal"))


def test_a_big_file_read_again_comes_from_the_cache(tmp_path):
    cfg = big_config(tmp_path / "config.yaml")
    first = load_yaml(cfg)
    assert len(entries()) == 1
    # An entry that says something else shows that the entry is what is read.
    (only,) = entries()
    yamlcache.put(only.name.split(".")[0], ({"marker": True}, {}))
    assert load_yaml(cfg).data == {"marker": True}
    only.unlink()
    assert load_yaml(cfg).data == first.data


def test_a_small_file_is_not_kept(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("sources: []\n")
    load_config(cfg)
    assert entries() == []


def test_a_changed_file_is_read_anew(tmp_path):
    cfg = big_config(tmp_path / "config.yaml")
    assert load_config(cfg).sources[5].url == "http://news5.example/feed.xml"
    cfg.write_text(cfg.read_text().replace("news5.example", "news5.invalid"))
    assert load_config(cfg).sources[5].url == "http://news5.invalid/feed.xml"
    assert len(entries()) == 2


def test_a_problem_in_a_cached_file_names_its_line_and_column(tmp_path, monkeypatch):
    cfg = big_config(
        tmp_path / "config.yaml",
        extra="  - {name: outlet-3, kind: rss, url: 'http://dup.example/'}\n",
    )
    line = len(cfg.read_text().splitlines())
    found = []
    for _ in range(2):  # a fresh read, then one from the cache
        with pytest.raises(ConfigError) as e:
            load_config(cfg)
        found.append([str(err) for err in e.value.errors])
    assert len(entries()) == 1
    assert found[0] == found[1]
    assert f"{cfg}:{line}:" in found[1][0]
    monkeypatch.delenv("NEWS_TOKEN", raising=False)
    cfg2 = big_config(
        tmp_path / "tokens.yaml", extra="  - {name: x, kind: rss, url: '${NEWS_TOKEN}'}\n"
    )
    for _ in range(2):
        with pytest.raises(ConfigError) as e:
            load_config(cfg2)
        first = str(e.value.errors[0])
        assert first == f"{cfg2}:{line}:26: environment variable NEWS_TOKEN is not set"


def test_monitor_check_reads_a_cached_config_the_same(tmp_path, cache_home):
    cfg = big_config(
        tmp_path / "config.yaml",
        extra="  - {name: outlet-3, kind: rss, url: 'http://dup.example/'}\n",
    )
    outs = [
        subprocess.run(
            [sys.executable, "-m", "monitor", "check", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
        )
        for _ in range(2)
    ]
    assert len(entries()) == 1
    assert [o.returncode for o in outs] == [1, 1]
    assert outs[0].stdout == outs[1].stdout and "duplicate source name 'outlet-3'" in outs[1].stdout


def test_a_broken_entry_is_read_past(tmp_path):
    cfg = big_config(tmp_path / "config.yaml")
    good = load_yaml(cfg).data
    junk_entries = (b"", b"yamlcache 2", b"yamlcache 2\xff\x00garbage", b"not a cache entry")
    for junk in junk_entries + (yamlcache._FORMAT + marshal.dumps({"old": "shape"}),):
        entries()[0].write_bytes(junk)
        assert load_yaml(cfg).data == good


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    cfg = big_config(tmp_path / "config.yaml")
    assert len(load_config(cfg).sources) == 600


def test_an_alias_bomb_is_never_kept_and_always_refused(tmp_path):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    padding = "# " + "x" * 78 + "\n"
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(padding * 500 + "\n".join(lines) + "\nsources: []\n")
    assert bomb.stat().st_size >= yamlcache.CACHE_MIN_BYTES
    for _ in range(2):
        with pytest.raises(FileError) as e:
            load_yaml(bomb)
        assert str(e.value).startswith(f"{bomb}:50") and "possible alias bomb" in str(e.value)
    assert entries() == []


def test_data_marshal_cannot_write_is_read_as_before(tmp_path):
    f = tmp_path / "dated.yaml"
    f.write_text("when: 2025-12-01\n" + "# padding line of a big file\n" * 2000)
    for _ in range(2):
        assert str(load_yaml(f).data["when"]) == "2025-12-01"
    assert entries() == []


def test_the_oldest_entries_go(tmp_path):
    for i in range(yamlcache.CACHE_ENTRIES + 3):
        load_yaml(big_config(tmp_path / f"c{i}.yaml", n=500 + i))
    assert len(entries()) == yamlcache.CACHE_ENTRIES


def where(ruleset):
    return [
        (r.id, r.path, r.line, [c.line for c in r.tests.match + r.tests.no_match])
        for r in ruleset.rules
    ]


def test_rules_from_the_cache_keep_their_lines_without_composing_again(tmp_path, monkeypatch):
    """A rule and each of its test cases record their line; from the cache
    those lines come from the entry, and the file's tree is not composed."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("semantic", "examples"))
    assert max(f.stat().st_size for f in rules.glob("*.yaml")) >= yamlcache.CACHE_MIN_BYTES
    fresh, problems = load_rules([rules])
    assert problems == [] and len(entries()) >= 1
    composed = []
    compose = yamlfile.YamlDoc.root.fget

    def counting(doc):
        composed.append(doc.path)
        return compose(doc)

    monkeypatch.setattr(yamlfile.YamlDoc, "root", property(counting))
    cached, _ = load_rules([rules])
    big = [str(f) for f in rules.glob("*.yaml") if f.stat().st_size >= yamlcache.CACHE_MIN_BYTES]
    assert not set(composed) & set(big)
    assert where(cached) == where(fresh)
    assert all(line for _, _, line, _ in where(cached))
