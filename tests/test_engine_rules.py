"""Loading rule files: the format, and one clear line for each mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

from monitor.engine import load_rules


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(*paths: Path):
    rs, problems = load_rules(list(paths))
    return rs, [str(p) for p in problems]


GOOD = """
rules:
  - id: facial-recognition-en
    title: Facial recognition of people
    severity: high
    tags: [facial-recognition]
    channels: [team-slack]
    fields: [title, summary]
    description: Stories about facial recognition used on people.
    references: [https://example.org/frt]
    match:
      any: ["facial recognition", {term: FRT, cased: true}]
    tests:
      match: ["Police expand facial recognition", {summary: "FRT vans"}]
      no_match: ["surface recognition"]
  - id: face-zh
    title: 人脸识别
    match: 人脸识别
"""


def test_good_file_loads_with_all_attributes(tmp_path):
    path = write(tmp_path / "rules" / "frt.yaml", GOOD)
    rs, problems = load(path)
    assert problems == []
    frt, zh = rs.rules
    assert (frt.id, frt.title, frt.severity) == (
        "facial-recognition-en",
        "Facial recognition of people",
        "high",
    )
    assert frt.tags == ("facial-recognition",)
    assert frt.channels == ("team-slack",)
    assert frt.fields == ("title", "summary")
    assert frt.enabled is True
    assert frt.path == path and frt.line == 2
    assert frt.references == ("https://example.org/frt",)
    assert [(t.expect_match, t.fields, t.line) for t in frt.tests] == [
        (True, {"title": "Police expand facial recognition"}, 13),
        (True, {"summary": "FRT vans"}, 13),
        (False, {"title": "surface recognition"}, 14),
    ]
    assert (len(frt.tests.match), len(frt.tests.no_match), len(frt.tests)) == (2, 1, 3)
    assert not zh.tests
    # defaults
    assert (zh.severity, zh.tags, zh.channels, zh.fields, zh.line) == (
        "medium",
        (),
        (),
        ("title", "summary", "body"),
        15,
    )
    assert rs.run_tests() == []


def test_directory_loads_yaml_and_yml_sorted_not_recursive(tmp_path):
    write(tmp_path / "b.yml", "rules: [{id: b, title: B, match: b}]\n")
    write(tmp_path / "a.yaml", "rules: [{id: a, title: A, match: a}]\n")
    write(tmp_path / "notes.txt", "not rules")
    write(tmp_path / "sub" / "c.yaml", "rules: [{id: c, title: C, match: c}]\n")
    rs, problems = load(tmp_path)
    assert problems == []
    assert [r.id for r in rs.rules] == ["a", "b"]


def test_missing_path_and_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    rs, problems = load(tmp_path / "nope.yaml", tmp_path / "empty")
    assert rs.rules == []
    assert problems[0] == f"{tmp_path / 'nope.yaml'}: no such file or directory"
    assert problems[1].startswith(f"{tmp_path / 'empty'}: no rule files")


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    path = write(
        tmp_path / "bad.yaml",
        """
        rules:
          - id: x
            title: "unclosed
            match: x
        """,
    )
    _, problems = load(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:")
    where, message = problems[0][len(str(path)) + 1 :].split(": ", 1)
    line, col = where.split(":")
    assert int(line) >= 3 and int(col) >= 1
    assert (
        message == "this quoted value is never closed; expected a closing quote on the same value"
    )


def test_unknown_keys_suggest_the_nearest(tmp_path):
    path = write(
        tmp_path / "r.yaml",
        """
        rules:
          - id: a
            title: A
            severety: high
            match:
              all:
                - any_of: [x, y]
                - nott: z
          - id: b
            title: B
            match: b
            tests:
              match: [{titel: b}]
        """,
    )
    rs, problems = load(path)
    assert problems == [
        f"{path}:4:5: unknown key 'severety' (did you mean 'severity'?)",
        f"{path}:7:11: unknown key 'any_of' (did you mean 'any'?)",
        f"{path}:8:11: unknown key 'nott' (did you mean 'not'?)",
        f"{path}:13:16: unknown key 'titel' (did you mean 'title'?)",
    ]
    assert rs.rules == []


def test_bad_regex_points_at_it(tmp_path):
    path = write(
        tmp_path / "r.yaml",
        """
        rules:
          - id: a
            title: A
            match:
              any:
                - leak
                - regex: "(data|personal information"
          - id: b
            title: B
            match: {regex: "x*"}
        """,
    )
    _, problems = load(path)
    assert len(problems) == 2
    assert problems[0].startswith(f"{path}:7:11: bad regex '(data|personal information': missing )")
    assert problems[1].startswith(f"{path}:10:13: regex 'x*' matches empty text")


def test_missing_match_bad_severity_bad_id(tmp_path):
    path = write(
        tmp_path / "r.yaml",
        """
        rules:
          - id: no-match
            title: A
          - id: loud
            title: B
            severity: urgent
            match: b
          - id: Bad_ID
            title: C
            match: c
          - id: ok
            title: D
            match: d
          - title: no id
            match: e
        """,
    )
    rs, problems = load(path)
    assert problems[0] == f"{path}:2:5: missing required key 'match'"
    assert problems[1].startswith(f"{path}:6:5:")
    assert (
        "'urgent' is not a severity; expected one of info, low, medium, high, critical"
        in problems[1]
    )
    assert (
        problems[2].startswith(f"{path}:8:5:") and "'Bad_ID' is not a valid rule id" in problems[2]
    )
    assert problems[3] == f"{path}:14:5: missing required key 'id'"
    assert len(problems) == 4
    # the good rule of the file still loads
    assert [r.id for r in rs.rules] == ["ok"]


def test_condition_shape_errors(tmp_path):
    path = write(
        tmp_path / "r.yaml",
        """
        rules:
          - id: a
            title: A
            match: {any: [x], all: [y]}
          - id: b
            title: B
            match: {all: []}
          - id: c
            title: C
            match: [2024, "ok"]
          - id: d
            title: D
            match: {any: [x], cased: true}
          - id: e
            title: E
            match:
          - id: f
            title: F
            match: {term: "   "}
          - id: g
            title: G
            match: {term: x, cased: "yes"}
        """,
    )
    rs, problems = load(path)
    assert rs.rules == []
    assert problems == [
        f"{path}:4:23: one operator per mapping, found 'any' and 'all'; nest them in a list under 'all' or 'any'",
        f"{path}:7:13: empty list: expected at least one condition",
        f"{path}:10:13: a term must be a string, got a number; put the term in quotes",
        f"{path}:13:23: 'cased' goes with 'term' or 'regex', not 'any'",
        f"{path}:16:5: 'match' is empty: expected a condition",
        f"{path}:19:13: empty term",
        f"{path}:22:22: 'cased' must be true or false, got a string",
    ]


def test_top_level_shape(tmp_path):
    empty = write(tmp_path / "empty.yaml", "# nothing yet\n")
    listing = write(tmp_path / "list.yaml", "- id: a\n")
    typo = write(tmp_path / "typo.yaml", "rule:\n  - id: a\n")
    _, problems = load(empty, listing, typo)
    assert problems == [
        f"{empty}: empty file: expected a top-level 'rules:' list",
        f"{listing}:1:1: expected a mapping with a 'rules:' list at the top, got a list",
        f"{typo}:1:1: unknown key 'rule' (did you mean 'rules'?)",
    ]


def test_duplicate_id_across_files_points_at_the_second(tmp_path):
    first = write(tmp_path / "a.yaml", GOOD)
    second = write(
        tmp_path / "b.yaml",
        """
        rules:
          - id: other
            title: Other
            match: other
          - id: face-zh
            title: Again
            match: 刷脸
        """,
    )
    rs, problems = load(tmp_path)
    assert problems == [f"{second}:5:5: duplicate rule id 'face-zh' (first defined at {first}:15)"]
    assert [r.id for r in rs.rules] == ["facial-recognition-en", "face-zh", "other"]
    assert rs.get("face-zh").title == "人脸识别"


def test_duplicate_id_in_one_file(tmp_path):
    path = write(
        tmp_path / "a.yaml",
        "rules:\n  - {id: a, title: A, match: a}\n  - {id: a, title: A2, match: b}\n",
    )
    rs, problems = load(path)
    assert problems == [f"{path}:3:6: duplicate rule id 'a' (first defined at {path}:2)"]
    assert len(rs.rules) == 1


def test_one_broken_file_does_not_stop_another(tmp_path):
    write(tmp_path / "a_broken.yaml", "rules:\n  - id: x\n   title: [\n")
    write(tmp_path / "b_good.yaml", GOOD)
    rs, problems = load(tmp_path)
    assert len(problems) == 1 and "a_broken.yaml:" in problems[0]
    assert [r.id for r in rs.rules] == ["facial-recognition-en", "face-zh"]
    assert rs.match_fields({"title": "警方使用人脸识别技术"})[0].rule_id == "face-zh"


def test_not_utf8_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes('rules: [{id: a, title: "caf\xe9", match: a}]\n'.encode("latin-1"))
    _, problems = load(path)
    assert problems == [f"{path}: not UTF-8 text (byte 27)"]


# --- embedded tests -----------------------------------------------------------


def test_run_tests_reports_failures_with_file_line_and_rule(tmp_path):
    path = write(
        tmp_path / "r.yaml",
        """
        rules:
          - id: facial-recognition-en
            title: Facial recognition
            match:
              all: ["facial recognition", {not: sports}]
            tests:
              match:
                - "Police expand facial recognition"
                - "Police expand face recognition"
                - {title: "x", body: "facial recognition at sports day"}
              no_match:
                - "surface recognition"
                - "Shops adopt facial recognition"
          - id: passing
            title: P
            enabled: false
            match: 人脸识别
            tests:
              match: [警方使用人脸识别技术]
        """,
    )
    rs, problems = load(path)
    assert problems == []
    assert rs.run_tests() == [
        f"{path}:9: rule facial-recognition-en: expected a match for 'Police expand face recognition' but got none"
        " (term 'facial recognition': failed)",
        f"{path}:10: rule facial-recognition-en: expected a match for title 'x', body 'facial recognition at sports day' but got none"
        " (not: failed; excluded by 'sports')",
        f"{path}:13: rule facial-recognition-en: expected no match for 'Shops adopt facial recognition' but it matched on 'facial recognition'",
    ]


def test_run_tests_cuts_long_examples(tmp_path):
    path = write(
        tmp_path / "r.yaml",
        f"""
        rules:
          - id: a
            title: A
            match: leak
            tests:
              match: ["{"x" * 200}"]
        """,
    )
    rs, _ = load(path)
    [line] = rs.run_tests()
    assert len(line) < len(str(path)) + 160
    assert "…'" in line


def test_tests_may_be_a_single_string(tmp_path):
    path = write(
        tmp_path / "r.yaml",
        """
        rules:
          - id: a
            title: A
            match: leak
            tests:
              match: "Bank leak"
              no_match: "Bank news"
        """,
    )
    rs, problems = load(path)
    assert problems == []
    assert [t.fields for t in rs.rules[0].tests] == [{"title": "Bank leak"}, {"title": "Bank news"}]
    assert rs.run_tests() == []
