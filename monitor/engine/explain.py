"""Why a rule matched a story or not: every condition's outcome, the terms
found with their positions, the weights against the threshold, and the
snippet with the terms marked. Used by `monitor rules explain` and by the
reasons `monitor rules test` gives for a failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.engine.matcher import (
    _NO_SPAN,
    Context,
    Evidence,
    Matcher,
    Step,
    _context,
    _Story,
    found_text,
)
from monitor.engine.model import Rule
from monitor.engine.text import snippet
from monitor.yamlfile import shown_path

MARK_OPEN, MARK_CLOSE = "[[", "]]"


@dataclass
class Explanation:
    rule: Rule
    matched: bool
    applies: bool
    steps: list[Step]
    evidence: list[Evidence]
    score: float | None
    story: _Story
    context: tuple

    def filter_problems(self) -> list[str]:
        source, lang, tags = self.context
        out = []
        r = self.rule
        if r.sources and (source or "") not in r.sources:
            out.append(f"source {source or '(none)'!r} is not one of {', '.join(r.sources)}")
        if (
            r.languages
            and lang
            and not any(lang.lower() == w or lang.lower().startswith(w + "-") for w in r.languages)
        ):
            out.append(f"language {lang!r} is not one of {', '.join(r.languages)}")
        if r.source_tags and not set(r.source_tags) & set(tags):
            out.append(f"the source has none of the tags {', '.join(r.source_tags)}")
        return out

    def _children(self, k: int) -> list[int]:
        depth = self.steps[k].depth
        out = []
        for j in range(k + 1, len(self.steps)):
            if self.steps[j].depth <= depth:
                break
            if self.steps[j].depth == depth + 1:
                out.append(j)
        return out

    def reason(self, terms: bool = True) -> str:
        """One short phrase: why the verdict is what it is (`terms`: name the
        terms a rule held on)."""
        problems = self.filter_problems()
        if problems:
            return "filtered out: " + "; ".join(problems)
        parts = []
        if self.steps:
            root = self.steps[0]
            if not root.held:
                failed = [self.steps[j] for j in self._children(0) if not self.steps[j].held] or [
                    root
                ]
                for step in failed[:3]:
                    parts.append(f"{step.label}: failed")
            elif terms:
                found = ", ".join(dict.fromkeys(repr(t) for _, t, _ in self.evidence))
                parts.append(f"held on {found}" if found else "held with no term found")
            for k, step in enumerate(self.steps):
                if step.label == "not" and not step.held and not step.scoring:
                    excluded = [
                        t
                        for j in range(k + 1, len(self.steps))
                        if self.steps[j].depth > step.depth
                        for _, t, _ in self.steps[j].hits
                    ]
                    if excluded:
                        parts.append(
                            "excluded by " + ", ".join(dict.fromkeys(repr(t) for t in excluded))
                        )
                    break
        if self.rule.threshold is not None and self.score is not None:
            parts.append(f"weights {self.score:g} of threshold {self.rule.threshold:g}")
        return "; ".join(parts)

    def render(self, snippet_chars: int = 240) -> str:
        r = self.rule
        lines = [
            f"rule {r.id}: {'MATCH' if self.matched else 'NO MATCH'}  ({r.title})",
            f"  file {shown_path(str(r.path))}:{r.line}"
            if r.line
            else f"  file {shown_path(str(r.path))}",
            f"  reads {', '.join(r.fields)}" + ("" if r.enabled else "  (disabled: never alerts)"),
        ]
        problems = self.filter_problems()
        lines.append("  filters: " + ("; ".join(problems) if problems else "pass"))
        lines.append("  conditions:")
        lines.extend(self._tree_lines([s for s in self.steps if not s.scoring]))
        if r.threshold is not None:
            lines.append(f"  weights: {self.score or 0:g} of threshold {r.threshold:g}")
            lines.extend(self._tree_lines([s for s in self.steps if s.scoring]))
        if self.evidence:
            lines.append("  terms found:")
            for hit, text, _ in sorted(self.evidence, key=lambda e: e[0].order):
                if hit is _NO_SPAN:  # a semantic condition: of the whole story
                    lines.append(f"    {text}")
                    continue
                found = found_text(self.story.text(hit.field).display, hit, text)
                lines.append(
                    f"    {text!r} in {hit.field} at {hit.start}-{hit.end}: found {found!r}"
                )
        snip = self.marked_snippet(snippet_chars)
        if snip:
            lines.append("  snippet: " + snip)
        lines.append("  why: " + self.reason())
        return "\n".join(lines)

    def _tree_lines(self, steps: list[Step]) -> list[str]:
        """One line per condition; a run of four or more terms not found
        is folded into one line."""
        out: list[str] = []
        run: list[Step] = []

        def flush() -> None:
            if len(run) >= 4:
                names = ", ".join(s.label.split(" ", 1)[1] for s in run[:3])
                out.append(
                    " " * (4 + 2 * run[0].depth) + f"[-] {len(run)} terms not found: {names}, …"
                )
            else:
                out.extend(self._step_line(s, 4) for s in run)
            run.clear()

        for k, step in enumerate(steps):
            leaf = k + 1 >= len(steps) or steps[k + 1].depth <= step.depth
            if (
                leaf
                and not step.held
                and step.label.startswith(("term ", "prefix "))
                and (not run or run[0].depth == step.depth)
            ):
                run.append(step)
                continue
            flush()
            if leaf and not step.held and step.label.startswith(("term ", "prefix ")):
                run.append(step)
                continue
            weight = f"weight {step.weight:g}: " if step.weight is not None else ""
            out.append(self._step_line(step, 4, weight))
            out.extend(" " * (8 + 2 * step.depth) + line for line in step.detail)
        flush()
        return out

    def _step_line(self, step: Step, indent: int, prefix: str = "") -> str:
        mark = "+" if step.held else "-"
        where = ""
        if step.hits:
            where = "  " + ", ".join(
                f"{h.field}:{h.start}-{h.end} {t!r}" for h, t, _ in step.hits[:3]
            )
        return " " * (indent + 2 * step.depth) + f"[{mark}] {prefix}{step.label}{where}"

    def marked_snippet(self, width: int) -> str:
        """The text around the first hit, every hit in that field in [[ ]]."""
        evidence = [e for e in self.evidence if e[0] is not _NO_SPAN]
        if not evidence:
            return ""
        first = min(evidence, key=lambda e: e[0].order)[0]
        text = self.story.text(first.field).display
        spans = sorted({(h.start, h.end) for h, _, _ in evidence if h.field == first.field})
        out, pos, shift, new_first = [], 0, 0, (first.start, first.end)
        for start, end in spans:
            if start < pos:
                continue  # overlapping hits: the first one is marked
            out.append(text[pos:start])
            if (start, end) == (first.start, first.end):
                new_first = (start + shift, end + shift + len(MARK_OPEN) + len(MARK_CLOSE))
            out.append(MARK_OPEN + text[start:end] + MARK_CLOSE)
            shift += len(MARK_OPEN) + len(MARK_CLOSE)
            pos = end
        out.append(text[pos:])
        return f"{first.field}: " + snippet("".join(out), new_first[0], new_first[1], width)


def explain(
    matcher: Matcher, index: int, fields: Mapping[str, str], context: Context | None = None
) -> Explanation:
    matched, applies, steps, evidence, score, story = matcher.explain(index, fields, context)
    return Explanation(
        matcher.rules[index],
        matched,
        applies,
        steps,
        evidence,
        score,
        story,
        _context(context, fields),
    )
