"""The readers' verdicts as labelled data (`monitor feedback export`, and the
dashboard's export links).

Two forms:

- JSON Lines, one story a line, with ``id``, ``title``, ``summary``,
  ``body``, ``lang``, ``source`` and ``labels``: the shape of the labelled
  sets under bench/, which `monitor rules score` reads. A label is a topic: a rule tag
  with ``-`` written ``_`` (``facial-recognition`` -> ``facial_recognition``).
  A story's labels are the tags of the rules it was relevant to, the topics
  readers said it should have had, and nothing for a "not relevant" verdict
  (an item with no labels is a negative example).
- ``tests:`` entries per rule, to paste into a rule file: the titles judged
  relevant under ``match:``, those judged not relevant under ``no_match:``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import yaml


def label(topic: str) -> str:
    return topic.strip().replace("-", "_")


def labelled_items(verdicts: Iterable[dict], ruleset) -> list[dict]:
    """One item per story: its text and the labels its verdicts give."""
    items: dict[int, dict] = {}
    for v in verdicts:
        item = items.get(v["story_id"])
        if item is None:
            item = items[v["story_id"]] = {
                "id": f"story:{v['story_id']}",
                "title": v["title"],
                "summary": v["summary"] or "",
                "body": "",
                "lang": v["lang"] or "",
                "source": v["source"],
                "link": v["link"],
                "labels": [],
                "verdicts": [],
            }
        labels = item["labels"]
        if v["verdict"] == "relevant":
            rule = ruleset.get(v["rule_id"]) if v["rule_id"] else None
            for tag in (v["topic"],) if v["topic"] else (rule.tags if rule else ()):
                if label(tag) not in labels:
                    labels.append(label(tag))
        elif v["topic"] and label(v["topic"]) not in labels:
            # "not relevant, it is about X", or "should have matched, as X"
            labels.append(label(v["topic"]))
        item["verdicts"].append(
            {"rule": v["rule_id"] or None, "verdict": v["verdict"], "topic": v["topic"] or None}
        )
    return list(items.values())


def tests_yaml(verdicts: Iterable[dict], ruleset) -> str:
    """`tests:` blocks per rule, and the misses that name no rule."""
    per_rule: dict[str, dict[str, list[str]]] = {}
    misses: dict[str, list[str]] = {}
    for v in verdicts:
        title = v["title"]
        if v["rule_id"]:
            want = "match" if v["verdict"] in ("relevant", "missed") else "no_match"
            cases = per_rule.setdefault(v["rule_id"], {"match": [], "no_match": []})[want]
            if title not in cases:
                cases.append(title)
        elif v["verdict"] == "missed":
            misses.setdefault(v["topic"] or "(no topic)", []).append(title)
    out = []
    for rule_id in sorted(per_rule):
        rule = ruleset.get(rule_id)
        where = f" ({rule.path}:{rule.line})" if rule is not None and rule.line else ""
        out.append(f"# rule {rule_id}{where}")
        kept = {k: v for k, v in per_rule[rule_id].items() if v}
        out.append(yaml.safe_dump({"tests": kept}, allow_unicode=True, sort_keys=False).rstrip())
        out.append("")
    for topic in sorted(misses):
        out.append(f"# should have matched, topic {topic}: add to a rule with that tag")
        out.append(yaml.safe_dump({"tests": {"match": misses[topic]}}, allow_unicode=True).rstrip())
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def export(store, ruleset, fmt: str = "jsonl", since: float | None = None) -> str:

    verdicts = list(store.verdicts_for_export(since))
    if fmt == "tests":
        return tests_yaml(verdicts, ruleset)
    return "".join(
        json.dumps(item, ensure_ascii=False) + "\n" for item in labelled_items(verdicts, ruleset)
    )
