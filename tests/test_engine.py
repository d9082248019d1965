"""Matching semantics of the rule engine, on real rule files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.engine import RuleSet, load_rules
from monitor.engine.text import ELLIPSIS, at_word_boundaries, normalise, snippet
from monitor.models import Story


def ruleset(tmp_path: Path, text: str, name: str = "rules.yaml") -> RuleSet:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    rs, problems = load_rules([path])
    assert [str(p) for p in problems] == []
    return rs


def one_rule(tmp_path: Path, match: str, extra: str = "") -> RuleSet:
    """A file with one rule `r` whose match is the given YAML flow value."""
    return ruleset(
        tmp_path,
        f"""
        rules:
          - id: r
            title: Rule r
            {extra}
            match: {match}
        """,
    )


def ids(rs: RuleSet, **fields: str) -> list[str]:
    return [m.rule_id for m in rs.match_fields(fields)]


def hits(rs: RuleSet, title: str = "", **fields: str) -> bool:
    return bool(rs.match_fields({"title": title, **fields}))


# --- CJK and word boundaries --------------------------------------------------


def test_chinese_term_inside_running_text(tmp_path):
    rs = one_rule(tmp_path, "[人脸识别, 刷脸]")
    assert hits(rs, "警方使用人脸识别技术追踪抗议者")
    assert hits(rs, "小区刷脸门禁引发争议")
    assert not hits(rs, "人脸照片")


def test_latin_terms_match_whole_words_only(tmp_path):
    rs = one_rule(tmp_path, "face")
    assert hits(rs, "Face ID rollout")
    assert hits(rs, "a face, seen")
    assert hits(rs, "(face)")
    assert not hits(rs, "surface water")
    assert not hits(rs, "faces in the crowd")
    assert not hits(rs, "facebook")
    assert not hits(rs, "face_id")


def test_latin_term_next_to_han_matches(tmp_path):
    rs = one_rule(tmp_path, "AI")
    assert hits(rs, "AI人脸识别")
    assert hits(rs, "使用AI技术")
    assert not hits(rs, "MAIL server")
    assert not hits(rs, "AIR quality")


def test_boundary_rules_directly():
    assert at_word_boundaries("ai人脸", 0, 2)
    assert not at_word_boundaries("surface", 3, 7)
    assert at_word_boundaries("re-face", 3, 7)
    # accented and Cyrillic letters are spaced-script word characters
    assert not at_word_boundaries("éface", 1, 5)
    assert not at_word_boundaries("лицоface", 4, 8)
    # digits count as word characters too
    assert not at_word_boundaries("5g", 1, 2)


def test_phrase_with_collapsed_whitespace_and_case(tmp_path):
    rs = one_rule(tmp_path, '"facial   recognition"')
    assert hits(rs, "Facial Recognition at the border")
    assert hits(rs, "facial  \n\t recognition")
    assert hits(rs, "FACIAL RECOGNITION")
    assert not hits(rs, "facial-recognition")
    assert not hits(rs, "facial recognitions")


def test_nfkc_full_width_text(tmp_path):
    rs = one_rule(tmp_path, '"facial recognition"')
    assert hits(rs, "ＦＡＣＩＡＬ recognition deployed")
    # and a full-width term matches ASCII text
    rs2 = ruleset(
        tmp_path,
        """
        rules:
          - id: w
            title: wide
            match: "ＣＣＴＶ"
        """,
        name="wide.yaml",
    )
    assert hits(rs2, "New CCTV cameras")


def test_casefold_changes_length(tmp_path):
    rs = one_rule(tmp_path, "[strasse, überwachung]")
    match = rs.match_fields({"title": "Kameras in der Straße: Überwachung"})[0]
    assert match.terms == ("Straße", "Überwachung")  # as the story wrote them
    assert "Straße" in match.snippet  # the snippet is the original text, not folded


def test_invisible_characters_do_not_hide_a_term(tmp_path):
    rs = one_rule(tmp_path, '"facial recognition"')
    assert hits(rs, "fa\u200bcial recog\u00adnition")


def test_cased_term(tmp_path):
    rs = one_rule(tmp_path, "{term: FRT, cased: true}")
    assert hits(rs, "Police trial FRT in London")
    assert not hits(rs, "police trial frt")
    assert not hits(rs, "FRTS")
    assert hits(rs, "使用FRT系统")


def test_cased_and_uncased_term_of_same_text(tmp_path):
    rs = ruleset(
        tmp_path,
        """
        rules:
          - id: cased
            title: c
            match: {term: ICO, cased: true}
          - id: folded
            title: f
            match: ico
        """,
    )
    assert ids(rs, title="The ICO fined the firm") == ["cased", "folded"]
    assert ids(rs, title="an ico launch") == ["folded"]


# --- conditions ---------------------------------------------------------------


def test_all_any_not_nested(tmp_path):
    rs = ruleset(
        tmp_path,
        """
        rules:
          - id: frt-police
            title: Police facial recognition
            match:
              all:
                - any: ["facial recognition", 人脸识别]
                - any: [police, 警方]
                - not: [sports, football]
        """,
    )
    assert hits(rs, "Police expand facial recognition")
    assert hits(rs, "警方扩大人脸识别")
    assert not hits(rs, "Facial recognition at the airport")
    assert not hits(rs, "Police use facial recognition at football match")
    assert not hits(rs, "Police and facial recognition in sports")


def test_top_level_not_and_regex_rules_are_evaluated_without_term_hits(tmp_path):
    rs = ruleset(
        tmp_path,
        """
        rules:
          - id: not-weather
            title: n
            match: {not: weather}
          - id: leak-size
            title: l
            match: {regex: "\\\\d+(\\\\.\\\\d+)? ?(million|billion|万|亿) (records|users|条)"}
        """,
    )
    assert ids(rs, title="Something else") == ["not-weather"]
    assert ids(rs, title="Weather today") == []
    assert ids(rs, title="Breach exposes 2.5 million records") == ["not-weather", "leak-size"]
    assert ids(rs, title="泄露 500 万条") == ["not-weather"]
    assert ids(rs, title="泄露500万 条个人信息") == ["not-weather", "leak-size"]


def test_regex_runs_on_folded_text_and_reports_original_text(tmp_path):
    rs = one_rule(tmp_path, '{regex: "data (breach|leak)"}')
    match = rs.match_fields({"title": "Huge DATA  Breach at retailer"})[0]
    assert match.terms == ("DATA Breach",)


def test_cased_regex(tmp_path):
    rs = one_rule(tmp_path, '{regex: "\\\\bGDPR\\\\b", cased: true}')
    assert hits(rs, "GDPR fine")
    assert not hits(rs, "gdpr fine")


def test_fields_restriction(tmp_path):
    rs = ruleset(
        tmp_path,
        """
        rules:
          - id: title-only
            title: t
            fields: [title]
            match: biometric
          - id: url-only
            title: u
            fields: [url]
            match: {regex: "/privacy/"}
          - id: default
            title: d
            match: biometric
        """,
    )
    assert ids(rs, title="x", summary="new biometric law") == ["default"]
    assert ids(rs, title="biometric law") == ["title-only", "default"]
    story = Story(
        source="s", key="k", title="x", link="https://example.org/privacy/1", body="biometric"
    )
    assert [m.rule_id for m in rs.match(story)] == ["url-only", "default"]


def test_all_may_take_its_parts_from_different_fields(tmp_path):
    rs = one_rule(tmp_path, '{all: ["facial recognition", police]}')
    assert hits(rs, "Police budget", body="money for facial recognition")


def test_phrase_never_spans_two_fields(tmp_path):
    rs = one_rule(tmp_path, '"facial recognition"')
    assert not hits(rs, "Facial", summary="recognition")
    assert not hits(rs, "Police use facial", summary="recognition systems")


def test_disabled_rule_never_matches(tmp_path):
    rs = one_rule(tmp_path, "face", extra="enabled: false")
    assert not hits(rs, "face")
    assert rs.rules[0].enabled is False


# --- reported terms and snippet ----------------------------------------------


def test_terms_in_order_of_first_position_deduplicated(tmp_path):
    rs = one_rule(tmp_path, "[surveillance, {all: [camera, police]}, 监控, Surveillance]")
    m = rs.match_fields(
        {"title": "Police camera surveillance", "body": "监控 police surveillance"}
    )[0]
    assert m.terms == ("Police", "camera", "surveillance", "监控")
    m = rs.match_fields(
        {"title": "surveillance", "summary": "camera police", "body": "surveillance"}
    )[0]
    assert m.terms == ("surveillance", "camera", "police")


def test_not_branch_terms_are_not_reported(tmp_path):
    rs = one_rule(tmp_path, "{all: [leak, {not: {all: [sports, football]}}]}")
    m = rs.match_fields({"title": "Sports data leak"})[0]
    assert m.terms == ("leak",)


def test_failing_branch_terms_are_not_reported(tmp_path):
    rs = one_rule(tmp_path, "{any: [{all: [police, drone]}, leak]}")
    m = rs.match_fields({"title": "Police data leak"})[0]
    assert m.terms == ("leak",)


def test_match_carries_rule_metadata(tmp_path):
    rs = ruleset(
        tmp_path,
        """
        rules:
          - id: meta
            title: Meta rule
            severity: critical
            tags: [facial-recognition, zh]
            channels: [team-slack, email]
            match: 人脸识别
        """,
    )
    [m] = rs.match(Story(source="caixin", key="k", title="人脸识别"))
    assert (m.rule_id, m.rule_title, m.severity) == ("meta", "Meta rule", "critical")
    assert m.tags == ("facial-recognition", "zh")
    assert m.channels == ("team-slack", "email")


def test_snippet_is_bounded_centred_and_marks_cuts(tmp_path):
    rs = one_rule(tmp_path, '"facial recognition"')
    body = (
        "lorem ipsum " * 60
        + "police deployed facial recognition at the station "
        + "dolor sit " * 60
    )
    m = rs.match_fields({"title": "Nothing here", "body": body}, snippet_chars=80)[0]
    assert "facial recognition" in m.snippet
    assert m.snippet.startswith(ELLIPSIS) and m.snippet.endswith(ELLIPSIS)
    assert len(m.snippet) <= 80 + 2
    inner = m.snippet.strip(ELLIPSIS)
    assert inner in " ".join(body.split())
    centre = inner.index("facial recognition") + len("facial recognition") / 2
    assert abs(centre - len(inner) / 2) < 15


def test_snippet_of_cjk_text_without_spaces(tmp_path):
    rs = one_rule(tmp_path, "人脸识别")
    body = "这是一段很长的新闻。" * 30 + "警方使用人脸识别技术" + "其他内容。" * 30
    m = rs.match_fields({"body": body}, snippet_chars=40)[0]
    assert "人脸识别" in m.snippet
    assert m.snippet.startswith(ELLIPSIS) and m.snippet.endswith(ELLIPSIS)
    assert len(m.snippet) <= 42


def test_snippet_short_text_is_whole_and_unmarked(tmp_path):
    rs = one_rule(tmp_path, "leak")
    m = rs.match_fields({"title": "Data  leak\nat bank"})[0]
    assert m.snippet == "Data leak at bank"


def test_snippet_prefers_title_over_summary_and_body(tmp_path):
    rs = one_rule(tmp_path, "[leak, breach]")
    m = rs.match_fields({"title": "Bank breach", "summary": "a leak", "body": "leak"})[0]
    assert m.snippet == "Bank breach"
    assert m.terms == ("breach", "leak")
    m = rs.match_fields({"title": "Bank news", "summary": "a new breach", "body": "leak"})[0]
    assert m.snippet == "a new breach"


def test_snippet_when_matched_by_absence(tmp_path):
    rs = one_rule(tmp_path, "{not: weather}")
    m = rs.match_fields({"title": "", "summary": "Quiet day"})[0]
    assert m.terms == ()
    assert m.snippet == "Quiet day"


def test_snippet_helper_edges():
    text = "abcdefghij" * 10
    s = snippet(text, 0, 3, 20)
    assert s.startswith("abc") and s.endswith(ELLIPSIS) and len(s) == 21
    s = snippet(text, 97, 100, 20)
    assert s.startswith(ELLIPSIS) and s.endswith("hij")
    s = snippet(text, 10, 90, 20)  # a hit longer than the window starts at the hit
    assert s.startswith(ELLIPSIS + "abcdefghij")
    # combining marks are never separated from their letter
    decomposed = "e\u0301" * 50
    for start in range(0, 100, 7):
        s = snippet(decomposed, start, start + 1, 11).strip(ELLIPSIS)
        assert not s or s[0] == "e"


def test_normalise_index_maps_back_to_display():
    t = normalise("Groß  ＳＴＲＡＳＳＥ ﬁle")
    assert t.display == "Groß STRASSE file"
    assert t.folded == "gross strasse file"
    start = t.folded.index("strasse")
    assert t.display[slice(*t.display_span(start, start + 7))] == "STRASSE"
    start = t.folded.index("ss")
    assert t.display[slice(*t.display_span(start, start + 2))] == "ß"


# --- API edges ----------------------------------------------------------------


def test_empty_ruleset():
    rs = RuleSet.empty()
    assert rs.rules == []
    assert rs.match(Story(source="s", key="k", title="facial recognition")) == []
    assert rs.run_tests() == []


def test_match_fields_with_missing_fields(tmp_path):
    rs = one_rule(tmp_path, "leak")
    assert ids(rs, body="a leak") == ["r"]
    assert ids(rs) == []


@pytest.mark.parametrize("title", ["", " ", "\u200b", "…", "人", "a"])
def test_degenerate_texts_do_not_crash(tmp_path, title):
    rs = one_rule(tmp_path, '[a, 人, {regex: "\\\\s"}, {not: x}]')
    rs.match_fields({"title": title, "summary": title}, snippet_chars=1)


def test_format_character_list_covers_unicode_cf():
    import sys
    import unicodedata

    from monitor.engine.text import _FORMAT

    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat == "Cf":
            assert _FORMAT.match(ch), hex(cp)
        elif _FORMAT.match(ch):
            assert cat == "Cn", hex(cp)  # assigned as Cf in a newer Unicode


def test_fast_normalisation_equals_nfkc():
    import unicodedata

    from monitor.engine.text import _display

    samples = [
        "警方，使用（人脸识别）！",
        "ＦＡＣＩＡＬ　Recognition",
        "Ｃａｆé\u0301 ﬁle",
        "a\u3000\u3000b",
        "①②",
        "ｶﾞ",
    ]
    for text in samples:
        assert _display(text) == " ".join(unicodedata.normalize("NFKC", text).split())
