"""The rule language: each capability on examples written for the test, and
each mistake as one line pointing into the file."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from monitor.engine import Context, load_rules


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def rules_from(tmp_path: Path, text: str, name: str = "r.yaml"):
    path = write(tmp_path / name, text)
    rs, problems = load_rules([tmp_path])
    return rs, [str(p) for p in problems], path


def ids(rs, title="", summary="", body="", **ctx) -> list[str]:
    fields = {"title": title, "summary": summary, "body": body}
    return [m.rule_id for m in rs.match_fields(fields, context=Context(**ctx) if ctx else None)]


# --- capabilities -------------------------------------------------------------


def test_prefix_terms_need_a_word_start_only(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - {id: p, title: P, match: "surveil*"}
        """,
    )
    assert problems == []
    assert ids(rs, "Mass surveillance grows") == ["p"]
    assert ids(rs, "They surveil the square") == ["p"]
    assert ids(rs, "Countersurveillance tips") == []


def test_near_counts_words_in_english_and_characters_in_chinese(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - id: frt-places
            title: FRT near places
            match:
              near: ["facial recognition", [police, school, landlord*]]
              within: 3
          - id: zh
            title: 人脸识别 near 小区
            match:
              near: [人脸识别, [小区, 学校]]
              within: 4
        """,
    )
    assert problems == []
    assert ids(rs, "Police roll out facial recognition") == ["frt-places"]  # 2 words apart
    assert ids(rs, "Facial recognition used by the city police") == []  # 4 words apart
    assert ids(rs, "Landlords install facial recognition") == ["frt-places"]
    assert ids(rs, "Police news", summary="facial recognition") == []  # another field
    assert ids(rs, "小区门口装上人脸识别") == ["zh"]  # 4 characters apart
    assert ids(rs, "小区物业今年决定装上人脸识别") == []  # 8 characters apart


def test_at_least_n_of(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - id: two
            title: two of three
            match: {at_least: 2, of: [hackers, passwords, customers]}
        """,
    )
    assert problems == []
    assert ids(rs, "Hackers stole passwords") == ["two"]
    assert ids(rs, "Hackers at the conference") == []


def test_weights_add_up_to_the_threshold(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - id: exposed
            title: weak signals
            threshold: 3
            match:
              any:
                - {any: [exposed, misconfigured], weight: 1}
                - {any: [records, database], weight: 1}
                - {any: [personal data, 个人信息], weight: 2}
        """,
    )
    assert problems == []
    assert ids(rs, "Misconfigured server exposed personal data") == ["exposed"]
    assert ids(rs, "Exposed database held millions of records") == []  # 1 + 1
    assert ids(rs, "Database of records exposed", summary="personal data") == ["exposed"]


def test_fields_scope_of_a_group(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - id: s
            title: scoped
            match:
              all:
                - {any: [breach], fields: [title]}
                - customers
        """,
    )
    assert problems == []
    assert ids(rs, "Retailer breach", body="customers affected") == ["s"]
    assert ids(rs, "Retailer news", body="breach of customers data") == []


def test_filters_on_source_language_and_source_tags(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - {id: zh-only, title: Z, languages: [zh], match: 泄露}
          - {id: wire-only, title: W, sources: [wire], match: leak}
          - {id: tagged, title: T, source_tags: [security], match: leak}
        """,
    )
    assert problems == []
    assert ids(rs, "数据泄露", lang="zh-CN") == ["zh-only"]
    assert ids(rs, "数据泄露", lang="en") == []
    assert ids(rs, "数据泄露") == ["zh-only"]  # unknown language passes
    assert ids(rs, "leak", source="wire") == ["wire-only"]
    assert ids(rs, "leak", source="blog", source_tags=frozenset({"security"})) == ["tagged"]


def test_named_lists_in_a_block_and_an_included_file(tmp_path):
    write(
        tmp_path / "lists" / "common.yaml",
        """
        lists:
          leak_words: [leaked, exposed, 泄露]
        """,
    )
    rs, problems, _ = rules_from(
        tmp_path,
        """
        include: [lists/common.yaml]
        lists:
          people_data: [personal data, customer records, 个人信息]
        rules:
          - id: leak
            title: Leak
            match:
              all: [{list: leak_words}, {list: people_data}]
        """,
    )
    assert problems == []
    assert ids(rs, "Customer records leaked") == ["leak"]
    assert ids(rs, "个人信息泄露") == ["leak"]


def test_lists_are_shared_across_files(tmp_path):
    write(tmp_path / "a.yaml", "lists:\n  frt: [facial recognition, 人脸识别]\n")
    rs, problems, _ = rules_from(
        tmp_path, "rules:\n  - {id: b, title: B, match: {list: frt}}\n", "b.yaml"
    )
    assert problems == []
    assert ids(rs, "警方使用人脸识别") == ["b"]


def test_extend_adds_and_replaces_on_the_parsed_rule(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - id: base
            title: Base
            severity: low
            tags: [data-leak]
            match: [leaked, exposed]
          - id: strict
            extend: base
            replace: {severity: high, title: Strict}
            add:
              tags: [strict]
              match: {not: [gas leak, leaked renders]}
            tests:
              match: ["Records leaked"]
              no_match: ["Phone leaked renders"]
        """,
    )
    assert problems == []
    strict = rs.get("strict")
    assert (strict.severity, strict.title, strict.tags, strict.extends) == (
        "high",
        "Strict",
        ("data-leak", "strict"),
        "base",
    )
    assert ids(rs, "Phone leaked renders") == ["base"]
    assert rs.run_tests() == []


def test_fold_chinese_lets_one_term_serve_both_scripts(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - {id: folded, title: F, fold_chinese: true, match: 人脸识别}
          - {id: plain, title: P, match: 人脸识别}
          - {id: trad-term, title: T, fold_chinese: true, match: 個人資料外洩}
        """,
    )
    assert problems == []
    assert ids(rs, "警方使用人臉識別技術") == ["folded"]
    assert ids(rs, "警方使用人脸识别技术") == ["folded", "plain"]
    assert ids(rs, "个人资料外泄") == ["trad-term"]
    m = rs.match_fields({"title": "警方使用人臉識別技術"})[0]
    assert m.terms == ("人臉識別",) and "人臉識別" in m.snippet  # the text as written


def test_old_style_rules_keep_working(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - id: old
            title: Old
            match:
              all:
                - any: [leaked, {term: ICO, cased: true}, {regex: "breach(es|ed)?"}]
                - not: [gas leak]
        """,
    )
    assert problems == []
    assert ids(rs, "ICO fines firm") == ["old"]
    assert ids(rs, "Ico fines firm") == []


def test_explain_reports_conditions_positions_weights_and_snippet(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - id: w
            title: W
            threshold: 2
            match:
              all:
                - any: [{term: exposed, weight: 1}, {term: records, weight: 1}]
                - not: [gas]
        """,
    )
    text = rs.explain("w", {"title": "Server exposed 2m records"}).render()
    assert "rule w: MATCH" in text
    assert "[+] term 'exposed'  title:7-14 'exposed'" in text
    assert "weights: 2 of threshold 2" in text
    assert "snippet: title: Server [[exposed]] 2m [[records]]" in text
    no = rs.explain("w", {"title": "Gas records exposed"})
    assert not no.matched and "excluded by 'gas'" in no.reason()


# --- mistakes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "rules:\n  - {id: a, title: A, match: {any_of: [x]}}\n",
            "r.yaml:2:31: unknown key 'any_of' (did you mean 'any'?)",
        ),
        (
            "rules:\n  - {id: a, title: A, match: {list: frt_terms}}\n",
            "r.yaml:2:31: unknown list 'frt_terms'; no lists are defined",
        ),
        (
            "lists: {frt_terms: [x]}\nrules:\n  - {id: a, title: A, match: {list: frt_term}}\n",
            "r.yaml:3:31: unknown list 'frt_term' (did you mean 'frt_terms'?)",
        ),
        (
            "rules:\n  - {id: a, title: A, match: {regex: '(a)\\1'}}\n",
            "r.yaml:2:31: bad regex '(a)\\\\1': invalid escape sequence: \\1 (regexes use RE2 syntax: no "
            "backreferences or lookaround)",
        ),
        (
            "rules:\n  - id: a\n    title: A\n    threshold: 5\n    match: [{term: x, weight: 2}, {term: y, weight: 2}]\n",
            "r.yaml:4:5: threshold 5 can never be reached: the weights add up to 4",
        ),
        (
            "rules:\n  - {id: a, title: A, match: {term: x, weight: 2}}\n",
            "r.yaml:2:5: conditions carry a weight but the rule has no 'threshold'; add one, or drop the weights",
        ),
        (
            "rules:\n  - {id: a, title: A, threshold: 1, match: {not: {term: x, weight: 2}}}\n",
            "r.yaml:2:60: a weight under 'not' can never count",
        ),
        (
            "rules:\n  - {id: a, title: A, match: {near: [a, b]}}\n",
            "r.yaml:2:23: 'near' needs 'within': the distance in words (characters in Chinese)",
        ),
        (
            "rules:\n  - {id: a, title: A, match: {near: [a, {regex: b}], within: 2}}\n",
            "r.yaml:2:41: a 'near' group holds terms, or lists of terms (no regex, not, all or fields)",
        ),
        (
            "rules:\n  - {id: a, title: A, match: {at_least: 3, of: [a, b]}}\n",
            "r.yaml:2:31: at_least 3 of 2 conditions can never hold",
        ),
        (
            "rules:\n  - {id: a, title: A, match: {any: [a], fields: [titel]}}\n",
            "r.yaml:2:50: unknown field 'titel' (did you mean 'title'?); expected some of title, summary, body, url, source",
        ),
        (
            "rules:\n  - {id: a, extend: nothing}\n",
            "r.yaml:2:13: rule 'a' extends unknown rule 'nothing'",
        ),
        (
            "rules:\n  - {id: a, extend: b}\n  - {id: b, extend: a}\n",
            "r.yaml:2:13: rule 'a' extends 'b', which extends back (a cycle), or is broken",
        ),
        (
            "rules:\n  - {id: a, title: A, match: x}\n  - {id: b, extend: a, severity: high}\n",
            "r.yaml:3:24: 'severity' in a rule that extends another: put it under 'replace' (or 'add' for lists and conditions)",
        ),
        (
            "rules:\n  - {id: a, title: A, match: 'x*y'}\n",
            "r.yaml:2:23: '*' is allowed only at the end of a term (a prefix such as 'surveil*'), got 'x*y'; use a regex for other patterns",
        ),
        (
            "lists: {a: [x]}\nrules:\n  - {id: a, title: A, match: x}\n  - {id: a, title: B, match: y}\n",
            "r.yaml:4:6: duplicate rule id 'a' (first defined at {dir}/r.yaml:3)",
        ),
    ],
)
def test_each_mistake_is_one_line_in_the_file(tmp_path, text, expected):
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    _, problems = load_rules([tmp_path])
    assert str(problems[0]) == f"{tmp_path}/" + expected.replace("{dir}", str(tmp_path))


def test_duplicate_list_names_across_files(tmp_path):
    write(tmp_path / "a.yaml", "lists:\n  words: [x]\n")
    write(tmp_path / "b.yaml", "lists:\n  words: [y]\n")
    _, problems = load_rules([tmp_path])
    assert [str(p) for p in problems] == [
        f"{tmp_path}/b.yaml:2:3: duplicate list name 'words' (first defined at {tmp_path}/a.yaml:2)"
    ]


def test_a_bad_list_is_reported_once_and_its_users_say_so(tmp_path):
    write(
        tmp_path / "r.yaml",
        """
        lists:
          bad: [{regex: "(x"}]
        rules:
          - {id: a, title: A, match: {list: bad}}
          - {id: b, title: B, match: {list: bad}}
          - {id: c, title: C, match: fine}
        """,
    )
    rs, problems = load_rules([tmp_path])
    text = [str(p) for p in problems]
    assert len([t for t in text if "bad regex" in t]) == 1
    assert len([t for t in text if "list 'bad' has problems" in t]) == 2
    assert [r.id for r in rs.rules] == ["c"]


@pytest.mark.parametrize("include", ["../outside.yaml", "/etc/passwd", "link.yaml"])
def test_includes_outside_the_rules_folder_are_refused(tmp_path, include):
    rules = tmp_path / "rules"
    write(tmp_path / "outside.yaml", "lists:\n  secret: [x]\n")
    rules.mkdir()
    os.symlink(tmp_path / "outside.yaml", rules / "link.yml.txt")
    os.rename(rules / "link.yml.txt", rules / "link.yaml") if include == "link.yaml" else None
    write(rules / "r.yaml", f"include: [{include}]\nrules:\n  - {{id: a, title: A, match: x}}\n")
    rs, problems = load_rules([rules / "r.yaml"])
    text = [str(p) for p in problems]
    assert (
        len(text) == 1 and "refused include" in text[0] and text[0].startswith(f"{rules}/r.yaml:1:")
    )
    assert [r.id for r in rs.rules] == ["a"]


def test_a_symlinked_rule_file_leading_outside_is_refused(tmp_path):
    rules = tmp_path / "rules"
    write(tmp_path / "elsewhere.yaml", "rules:\n  - {id: x, title: X, match: x}\n")
    write(rules / "ok.yaml", "rules:\n  - {id: ok, title: OK, match: y}\n")
    os.symlink(tmp_path / "elsewhere.yaml", rules / "sneaky.yaml")
    rs, problems = load_rules([rules])
    assert [str(p) for p in problems] == [
        f"{rules}/sneaky.yaml: refused: a link to a file outside the rules folder"
    ]
    assert [r.id for r in rs.rules] == ["ok"]


def test_an_alias_bomb_is_refused_and_other_files_load(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 13):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\nrules: []\n", encoding="utf-8")
    assert (tmp_path / "bomb.yaml").stat().st_size < 1000
    write(tmp_path / "good.yaml", "rules:\n  - {id: g, title: G, match: leak}\n")
    rs, problems = load_rules([tmp_path])
    assert len(problems) == 1 and "possible alias bomb" in str(problems[0])
    assert str(problems[0]).startswith(f"{tmp_path / 'bomb.yaml'}:")
    assert [r.id for r in rs.rules] == ["g"]


# CPU seconds the matching process may use. A linear-time engine needs a
# fraction of one; a backtracking engine needs about 2**50000 steps for the
# first pattern, so it is stopped by the limit whatever the machine's load.
REGEX_CPU_LIMIT = 30


def test_catastrophic_backtracking_regex_runs_in_linear_time(tmp_path):
    import json
    import resource
    import subprocess
    import sys

    write(
        tmp_path / "rules" / "evil.yaml",
        """
        rules:
          - {id: evil, title: E, match: {regex: "(a+)+$"}}
          - {id: evil2, title: E2, match: {regex: "(x+x+)+y"}}
          - {id: control, title: C, match: {regex: "a!"}}
        """,
    )
    text = "a" * 50_000 + "!" + " " + "x" * 50_000
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"id": "long", "title": text}) + "\n", encoding="utf-8")

    def cpu_limit() -> None:  # in the child: SIGXCPU once the limit is spent
        resource.setrlimit(resource.RLIMIT_CPU, (REGEX_CPU_LIMIT, REGEX_CPU_LIMIT))

    out = subprocess.run(
        [sys.executable, "-m", "monitor", "rules", "match", "--rules", str(tmp_path / "rules")]
        + ["--input", str(items)],
        capture_output=True,
        text=True,
        preexec_fn=cpu_limit,
        timeout=600,  # only a guard against a stopped machine; the CPU limit is the bound
    )
    assert out.returncode == 0, (
        f"matching did not finish within {REGEX_CPU_LIMIT} CPU seconds "
        f"(exit {out.returncode}): a backtracking regex engine? {out.stderr[-500:]}"
    )
    [row] = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert [m["rule"] for m in row["matches"]] == ["control"]  # the text was really searched


def test_check_lists_every_problem_of_every_file(tmp_path):
    from monitor.cli import main

    write(tmp_path / "rules" / "a.yaml", "rules:\n  - {id: a, title: A, match: {any_of: [x]}}\n")
    write(
        tmp_path / "rules" / "b.yaml",
        "rules:\n  - {id: b, title: B, match: {list: nope}}\n"
        "  - {id: c, title: C, threshold: 9, match: {term: x, weight: 1}}\n",
    )
    write(tmp_path / "rules" / "c.yaml", "rules:\n  - {id: d, title: D, match: fine}\n")
    write(tmp_path / "config.yaml", "rules: ./rules\nsources: []\n")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["check", "--config", str(tmp_path / "config.yaml")])
    lines = out.getvalue().splitlines()
    assert rc == 1
    assert any("a.yaml:2:31: unknown key 'any_of'" in line for line in lines)
    assert any("b.yaml:2:31: unknown list 'nope'" in line for line in lines)
    assert any("b.yaml:3:23: threshold 9 can never be reached" in line for line in lines)


def test_fold_chinese_applies_to_regexes_too(tmp_path):
    rs, problems, _ = rules_from(
        tmp_path,
        """
        rules:
          - {id: r, title: R, fold_chinese: true, match: {regex: "采集.{0,4}人脸"}}
        """,
    )
    assert problems == []
    assert ids(rs, "物業強制採集業主人臉") == ["r"]
