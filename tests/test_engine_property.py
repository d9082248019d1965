"""Property: the indexed evaluation (one automaton scan, the term-to-rules
index, proximity from recorded positions) gives exactly the verdicts of
evaluating every rule directly by plain search, for any rules of the
language and any text."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine import Context, load_rules

WORDS = [
    "face",
    "facial recognition",
    "surveil*",
    "leak",
    "data breach",
    "police",
    "AI",
    "人脸识别",
    "人臉識別",
    "刷脸",
    "个人信息",
    "個人資料",
    "泄露",
    "洩露",
    "监控",
    "straße",
    "ＣＣＴＶ",
    "cctv",
    "record*",
    "school",
]
CASED = ["FRT", "ICO", "AI"]
REGEXES = [r"\d+ ?(million|万)", r"leak(ed|s)?", r"face\w*", r"人脸.{0,3}识别"]
FILLER = [
    "surface",
    "faces",
    "the",
    "AIR",
    "FRT",
    "frt",
    "ICO",
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
    "surveillance",
    "records",
    "countersurveil",
    "小区",
]
FIELDS = ["title", "summary", "body"]


@st.composite
def conditions(draw, depth=0, negated=False, weights=None):
    """A condition tree as YAML data; weights drawn outside `not` are added to `weights`."""
    kinds = ["word", "word", "cased", "regex"] + (
        ["not", "any", "all", "of", "near", "scoped"] if depth < 3 else []
    )
    kind = draw(st.sampled_from(kinds))
    if kind == "word":
        cond = draw(st.sampled_from(WORDS))
    elif kind == "cased":
        cond = {"term": draw(st.sampled_from(CASED)), "cased": True}
    elif kind == "regex":
        cond = {"regex": draw(st.sampled_from(REGEXES))}
    elif kind == "not":
        return {"not": draw(conditions(depth + 1, True, weights))}
    elif kind == "near":
        groups = draw(
            st.lists(
                st.lists(st.sampled_from(WORDS), min_size=1, max_size=3), min_size=2, max_size=3
            )
        )
        cond = {"near": groups, "within": draw(st.integers(0, 6))}
    else:
        items = draw(st.lists(conditions(depth + 1, negated, weights), min_size=1, max_size=3))
        if kind == "of":
            cond = {"at_least": draw(st.integers(1, len(items))), "of": items}
        elif kind == "scoped":
            cond = {
                "any": items,
                "fields": draw(
                    st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True)
                ),
            }
        else:
            cond = {kind: items}
    if weights is not None and not negated and draw(st.booleans()):
        if not isinstance(cond, dict):
            cond = {"term": cond}
        w = draw(st.integers(1, 3))
        cond = dict(cond, weight=w)
        weights.append(w)
    return cond


@st.composite
def rules(draw):
    out = []
    for i in range(draw(st.integers(1, 6))):
        weights: list[int] | None = [] if draw(st.booleans()) else None
        rule = {"id": f"r{i}", "title": f"Rule {i}", "match": draw(conditions(weights=weights))}
        if weights:
            rule["threshold"] = draw(st.integers(1, sum(weights)))
        elif weights == [] and isinstance(rule["match"], dict):
            pass
        if draw(st.booleans()):
            rule["fields"] = draw(
                st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True)
            )
        if draw(st.booleans()):
            rule["fold_chinese"] = True
        if draw(st.integers(0, 5)) == 0:
            rule["languages"] = ["zh"]
        out.append(rule)
    return out


texts = st.lists(st.sampled_from(WORDS + FILLER + FILLER), max_size=8).flatmap(
    lambda parts: st.sampled_from(["", " ", "  ", "\n"]).map(
        lambda glue: glue.join(p.rstrip("*") for p in parts)
    )
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rule_list=rules(),
    stories=st.lists(
        st.tuples(texts, texts, texts, st.sampled_from([None, "en", "zh"])), min_size=1, max_size=4
    ),
)
def test_indexed_and_direct_evaluation_agree(tmp_path_factory, rule_list, stories):
    path = tmp_path_factory.mktemp("rules") / "r.yaml"
    path.write_text(yaml.safe_dump({"rules": rule_list}, allow_unicode=True), encoding="utf-8")
    rs, problems = load_rules([path])
    assert [str(p) for p in problems] == []
    for title, summary, body, lang in stories:
        fields = {"title": title, "summary": summary, "body": body}
        ctx = Context(lang=lang)
        assert rs.match_fields(fields, 30, ctx) == rs.match_naive(fields, 30, ctx)
