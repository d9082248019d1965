"""A rule set that loaded cleanly comes back from the rule cache: the same
matches as a fresh load (regexes and folded Chinese included), never stale
when a rule file, an included list file or the folder changes, never kept
when a file has a problem, and never in the way when the cache is broken."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from monitor.engine import cache, load_rules

ROOT = Path(__file__).resolve().parent.parent

STORIES = [
    "Police roll out live facial recognition at the station",
    "Hackers leaked the customer records of a retailer",
    "警方在车站启用人脸识别系统",
    "某公司数据库泄露，个人信息遭窃取",
    "Stocks rose on Tuesday",
    "Order ID 4821-7730 in the dump",
]

RULES = """\
include: [lists/common.yaml]
rules:
  - id: leak
    title: Leak
    fold_chinese: true
    match:
      all: [{list: leak_words}, [customer records, 個人資料]]
  - id: order
    title: Order numbers
    match: {regex: '\\border id \\d{4}-\\d{4}\\b'}
"""


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))


def entries() -> list[Path]:
    return sorted(cache.cache_dir().glob("*.pickle"))


def matches(ruleset) -> list[list[str]]:
    return [[m.rule_id for m in ruleset.match_fields({"title": s})] for s in STORIES]


def small_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    (rules / "lists").mkdir(parents=True)
    (rules / "lists" / "common.yaml").write_text("lists:\n  leak_words: [leaked, 泄露]\n")
    (rules / "r.yaml").write_text(RULES)
    return rules


def test_the_shipped_rules_from_the_cache_match_as_a_fresh_load(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("semantic", "examples"))
    fresh, problems = load_rules([rules])
    assert problems == [] and len(entries()) == 1
    cached, problems = load_rules([rules])
    assert problems == [] and cached is not fresh
    assert [r.id for r in cached.rules] == [r.id for r in fresh.rules]
    assert matches(cached) == matches(fresh)
    assert any(matches(fresh)) and cached.run_tests() == [] == fresh.run_tests()


def test_the_entry_is_what_is_read(tmp_path):
    rules = small_rules(tmp_path)
    load_rules([rules])
    (only,) = entries()
    other, _ = load_rules([ROOT / "rules" / "facial-recognition.yaml"])
    only.write_bytes(cache._FORMAT + pickle.dumps(other))
    assert [r.id for r in load_rules([rules])[0].rules] == [r.id for r in other.rules]


def test_a_regex_from_the_cache_is_compiled_when_first_searched(tmp_path):
    rules = small_rules(tmp_path)
    fresh, _ = load_rules([rules])
    cached, _ = load_rules([rules])
    regex = cached.get("order").condition
    assert regex.compiled is None
    assert matches(cached) == matches(fresh)
    assert matches(fresh)[5] == ["order"] and regex.compiled is not None


@pytest.mark.parametrize(
    "change, probe, expected",
    [
        (
            lambda rules: (rules / "lists" / "common.yaml").write_text(
                "lists:\n  leak_words: [leaked, dumped, 泄露]\n"
            ),
            "Customer records dumped online",
            ["leak"],
        ),
        (
            lambda rules: (rules / "r.yaml").write_text(
                RULES.replace("customer records", "client files")
            ),
            "Client files leaked",
            ["leak"],
        ),
        (
            lambda rules: (rules / "more.yaml").write_text(
                "rules:\n  - {id: stocks, title: Stocks, match: stocks}\n"
            ),
            "Stocks rose on Tuesday",
            ["stocks"],
        ),
    ],
    ids=["included list file", "rule file", "new file in the folder"],
)
def test_a_change_is_never_read_stale(tmp_path, change, probe, expected):
    rules = small_rules(tmp_path)
    for _ in range(2):  # the second from the cache
        before, _ = load_rules([rules])
        assert before.match_fields({"title": probe}) == []
    change(rules)
    after, problems = load_rules([rules])
    assert problems == []
    assert [m.rule_id for m in after.match_fields({"title": probe})] == expected
    assert len(entries()) == 2


def test_a_file_with_a_problem_is_never_kept_and_always_reported(tmp_path):
    rules = small_rules(tmp_path)
    (rules / "bad.yaml").write_text("rules:\n  - {id: bad, title: Bad, match: {regex: 'a(b'}}\n")
    outs = [load_rules([rules]) for _ in range(2)]
    assert entries() == []
    assert [str(p) for p in outs[0][1]] == [str(p) for p in outs[1][1]]
    assert str(outs[1][1][0]).startswith(f"{rules / 'bad.yaml'}:2:")
    assert [r.id for r in outs[1][0].rules] == ["leak", "order"]


@pytest.mark.parametrize("where", ["entry", "folder", "owner"])
def test_an_entry_others_could_have_written_is_not_read(tmp_path, where):
    rules = small_rules(tmp_path)
    load_rules([rules])
    (only,) = entries()
    other, _ = load_rules([ROOT / "rules" / "facial-recognition.yaml"])
    only.write_bytes(cache._FORMAT + pickle.dumps(other))
    if where == "entry":
        only.chmod(0o666)
    elif where == "folder":
        only.parent.chmod(0o777)
    else:
        if os.getuid() != 0:
            pytest.skip("giving a file to another user needs root")
        os.chown(only, 65534, -1)
    ruleset, problems = load_rules([rules])
    assert problems == [] and [r.id for r in ruleset.rules] == ["leak", "order"]
    assert matches(ruleset)[1] == ["leak"]


def test_a_broken_entry_is_read_past(tmp_path):
    rules = small_rules(tmp_path)
    good = matches(load_rules([rules])[0])
    junk = (b"", b"rulecache 1", b"rulecache 1\x80\x05garbage", cache._FORMAT + pickle.dumps([1]))
    for blob in junk:
        entries()[0].write_bytes(blob)
        assert matches(load_rules([rules])[0]) == good


def test_a_cache_that_cannot_be_written_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    rules = small_rules(tmp_path)
    for _ in range(2):
        ruleset, problems = load_rules([rules])
        assert problems == [] and matches(ruleset)[1] == ["leak"]


def test_the_oldest_entries_go(tmp_path):
    rules = small_rules(tmp_path)
    for i in range(cache.CACHE_ENTRIES + 3):
        (rules / "r.yaml").write_text(RULES + f"# version {i}\n")
        load_rules([rules])
    assert len(entries()) == cache.CACHE_ENTRIES


def test_rules_read_once_are_not_kept(tmp_path):
    rules = small_rules(tmp_path)
    for _ in range(2):
        ruleset, problems = load_rules([rules], cached=False)
        assert problems == [] and matches(ruleset)[1] == ["leak"]
    assert entries() == []
