"""The indexed matcher must give the same answers as evaluating every rule directly.

Random (seeded) rule trees over a small vocabulary, and random texts built
from the same words glued and spaced in awkward ways, are matched both
through the Aho-Corasick index and by plain search of every rule.
"""

from __future__ import annotations

import random

import yaml

from monitor.engine import load_rules
from monitor.engine.matcher import _Story

WORDS = [
    "face",
    "facial recognition",
    "surveillance",
    "leak",
    "data breach",
    "police",
    "AI",
    "人脸识别",
    "刷脸",
    "个人信息",
    "泄露",
    "监控",
    "straße",
    "ＣＣＴＶ",
    "cctv",
]
CASED = ["FRT", "ICO", "AI"]
REGEXES = [r"\d+ ?(million|万)", r"leak(ed|s)?", r"face\w*", r"人脸.{0,3}识别"]
FILLER = [
    "surface",
    "faces",
    "the",
    "AIR",
    "mail",
    "FRT",
    "frt",
    "ICO",
    "Ico",
    "5 million",
    "300万",
    "leaked",
    "Strasse",
    "STRASSE",
    "ＦＡＣＩＡＬ",
    "recognition",
    "警方",
    "使用",
    "技术",
    "，",
    ".",
    "Facial  Recognition",
    "data-breach",
    "ai人脸识别",
    "泄露了",
    "\u200b",
]


def random_condition(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth >= 3 or roll < 0.35:
        return rng.choice(WORDS)
    if roll < 0.45:
        return {"term": rng.choice(CASED), "cased": True}
    if roll < 0.52:
        return {"regex": rng.choice(REGEXES)}
    if roll < 0.65:
        return {"not": random_condition(rng, depth + 1)}
    items = [random_condition(rng, depth + 1) for _ in range(rng.randint(2, 3))]
    if roll < 0.75:
        return items
    return {rng.choice(["any", "all"]): items}


def random_text(rng: random.Random) -> str:
    parts = [rng.choice(WORDS + FILLER + FILLER) for _ in range(rng.randint(0, 8))]
    glue = rng.choice(["", " ", "  ", " ", "\n"])
    text = glue.join(parts)
    return text.upper() if rng.random() < 0.1 else text


def build_rules(rng: random.Random, count: int) -> dict:
    rules = []
    for i in range(count):
        rule = {"id": f"r{i}", "title": f"Rule {i}", "match": random_condition(rng)}
        if rng.random() < 0.3:
            rule["fields"] = rng.sample(["title", "summary", "body"], rng.randint(1, 2))
        rules.append(rule)
    return {"rules": rules}


def test_indexed_and_direct_matching_agree(tmp_path):
    rng = random.Random(20240611)
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(build_rules(rng, 120), allow_unicode=True), encoding="utf-8")
    rs, problems = load_rules([path])
    assert [str(p) for p in problems] == []
    assert len(rs.rules) == 120

    matched_any = 0
    skipped = 0
    for _ in range(400):
        fields = {"title": random_text(rng), "summary": random_text(rng), "body": random_text(rng)}
        indexed = rs.match_fields(fields, snippet_chars=30)
        direct = rs.match_naive(fields, snippet_chars=30)
        assert indexed == direct, fields
        matched_any += bool(indexed)
        matcher = rs._matcher
        skipped += len(rs.rules) - len(matcher.candidates(matcher._scan(_Story(fields))))
    # the sample is varied enough to mean something, and the index does skip rules
    assert matched_any > 100
    assert skipped > 0


def test_terms_reused_by_many_rules_and_fields(tmp_path):
    """Several rules share a term, with different field restrictions."""
    doc = {
        "rules": [
            {"id": "t", "title": "t", "fields": ["title"], "match": "leak"},
            {"id": "s", "title": "s", "fields": ["summary"], "match": "leak"},
            {"id": "b", "title": "b", "match": {"all": ["leak", {"not": "sports"}]}},
            {"id": "c", "title": "c", "match": {"term": "LEAK", "cased": True}},
        ]
    }
    path = tmp_path / "shared.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    rs, problems = load_rules([path])
    assert problems == []
    for fields in [
        {"title": "leak"},
        {"summary": "LEAK"},
        {"body": "sports leak"},
        {"title": "leaks", "summary": "a leak"},
    ]:
        assert rs.match_fields(fields) == rs.match_naive(fields)
    assert [m.rule_id for m in rs.match_fields({"summary": "LEAK"})] == ["s", "b", "c"]
