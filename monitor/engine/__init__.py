"""The rule engine: rule files -> typed rules -> one compiled matcher -> Matches.

    ruleset, problems = load_rules([Path("rules")])
    for match in ruleset.match(story): ...

A rule file holds a top-level ``rules:`` list. Each rule has ``id``,
``title`` and ``match``, and optionally ``severity`` (info, low, medium,
high, critical), ``tags``, ``channels``, ``fields`` (title, summary, body,
url, source), ``enabled``, ``description``, ``references`` and ``tests``
(``match:`` / ``no_match:`` lists of titles or field mappings).

A condition is a term (a string; ``surveil*`` is a prefix), a list (any of
them), or a mapping with one operator: ``any``, ``all``, ``not`` (a list
under it means none of them), ``{at_least: N, of: [...]}``, ``{near: [...],
within: N}``, ``regex`` (RE2), ``term`` with ``cased: true``, ``list``
(a named list), or, with the semantic extra, ``{similar: {to: [...], min:
0.4}}`` and ``{classifier: {model: x.model, min: 0.7}}`` (monitor.semantic).
Any mapping may add ``fields`` (what it reads) and, in a
rule with a ``threshold``, a ``weight``. Text and terms are NFKC-normalised,
case-folded, and whitespace-collapsed; a term matches whole words in spaced
scripts and anywhere in Chinese, Japanese, Korean or Thai text. See README.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from monitor.engine import cache
from monitor.engine.matcher import Context, Matcher
from monitor.engine.model import SEVERITIES, Rule, RuleTest, RuleTests
from monitor.engine.rules import parse_docs, read_docs
from monitor.models import Match, Story
from monitor.yamlfile import FileError

__all__ = ["RuleSet", "Rule", "RuleTest", "RuleTests", "Context", "load_rules", "SEVERITIES"]


class RuleSet:
    """Loaded rules and their compiled matcher; safe to share, never mutated."""

    def __init__(self, rules: Iterable[Rule]):
        self._matcher = Matcher(rules)
        self.rules: list[Rule] = self._matcher.rules

    @classmethod
    def empty(cls) -> RuleSet:
        return cls([])

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @property
    def needs_vector(self) -> bool:
        """Whether an enabled rule has a semantic condition (similar, classifier)."""
        return self._matcher.needs_vector

    def match(
        self,
        story: Story,
        snippet_chars: int = 240,
        source_tags: Iterable[str] = (),
        vector=None,
    ) -> list[Match]:
        """Matches of every enabled rule, in rule order; `vector` is the
        story's embedding when the caller has it."""
        return self.match_fields(
            _story_fields(story), snippet_chars, story_context(story, source_tags, vector)
        )

    def match_fields(
        self, fields: Mapping[str, str], snippet_chars: int = 240, context: Context | None = None
    ) -> list[Match]:
        """Like match(), for plain {"title", "summary", "body", ...} mappings."""
        return self._matcher.match(fields, snippet_chars, context=context)

    def match_naive(
        self, fields: Mapping[str, str], snippet_chars: int = 240, context: Context | None = None
    ) -> list[Match]:
        """Every rule evaluated directly, without the automaton: the reference for tests."""
        return self._matcher.match_direct(fields, snippet_chars, context=context)

    def explain(self, rule_id: str, fields: Mapping[str, str], context: Context | None = None):
        """How one rule decides on a story; see monitor.engine.explain."""
        from monitor.engine.explain import explain

        index = next(i for i, r in enumerate(self.rules) if r.id == rule_id)
        return explain(self._matcher, index, fields, context)

    def run_tests(self) -> list[str]:
        """Run each rule's embedded tests; one line per failure, none when all pass.

        Disabled rules are tested too: their tests describe the condition.
        """
        failures = []
        for i, rule in enumerate(self.rules):
            for case in rule.tests:
                found = self._matcher.match(case.fields, only=[i], include_disabled=True)
                where = f"{rule.path}:{case.line}" if case.line else str(rule.path)
                what = _describe(case.fields)
                if case.expect_match and not found:
                    failures.append(
                        f"{where}: rule {rule.id}: expected a match for {what} but got none"
                    )
                elif not case.expect_match and found:
                    terms = (
                        ", ".join(repr(t) for t in found[0].terms)
                        or "no terms (matched by absence)"
                    )
                    failures.append(
                        f"{where}: rule {rule.id}: expected no match for {what} "
                        f"but it matched on {terms}"
                    )
                else:
                    continue
                reason = self.explain(rule.id, case.fields).reason(terms=case.expect_match)
                if reason:
                    failures[-1] += f" ({reason})"
        return failures


def load_rules(paths: Iterable[Path | str], cached: bool = True) -> tuple[RuleSet, list[FileError]]:
    """Load rule files and directories; bad files and rules are reported and skipped.

    A rule set read before from the same files without a problem comes from
    the rule cache (engine/cache.py); `cached=False` for files read once
    (the dashboard's pasted rules), which the cache never sees."""
    read = read_docs([Path(p) for p in paths])
    key = cache.key_of(read.files) if cached and read.clean else None
    if key is not None:
        kept = cache.get(key)
        if kept is not None:
            return kept, []
    rules, problems = parse_docs(read)
    ruleset = RuleSet(rules)
    if key is not None and not problems and not any(r.needs_vector() for r in rules):
        cache.put(key, ruleset)
    return ruleset, problems


def story_context(story: Story, source_tags: Iterable[str] = (), vector=None) -> Context:
    return Context(
        source=story.source, lang=story.lang, source_tags=frozenset(source_tags), vector=vector
    )


def _story_fields(story: Story) -> dict[str, str]:
    return {name: story.field(name) for name in ("title", "summary", "body", "url", "source")}


def _describe(fields: Mapping[str, str], limit: int = 60) -> str:
    def short(text: str) -> str:
        return repr(text if len(text) <= limit else text[: limit - 1] + "…")

    if set(fields) <= {"title"}:
        return short(fields.get("title", ""))
    return ", ".join(f"{k} {short(v)}" for k, v in fields.items())
