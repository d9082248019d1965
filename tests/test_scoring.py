"""`monitor rules score`: the real command on labelled files, with the
shipped rules and with small rule folders written here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "rules" / "examples" / "labelled-news.jsonl"

FACES = """\
rules:
  - id: faces
    title: Face recognition
    tags: [facial-recognition]
    match:
      all:
        - any: [facial recognition, face scan]
        - not: [cows]
  - id: fingerprints
    title: Fingerprint scanners
    tags: [facial-recognition]
    match: [fingerprint scanner, fingerprint scanners]
  - id: leaks
    title: Leaks
    tags: [data-leak]
    match:
      all:
        - any: [leaked, exposed]
        - any: [records, passwords, renders]
"""

# After an edit: renders are no longer data, and face scans need people.
FACES_AFTER = FACES.replace("[records, passwords, renders]", "[records, passwords]").replace(
    "[facial recognition, face scan]", "[facial recognition]"
)

ITEMS = [
    {"id": "a", "title": "Police expand facial recognition", "summary": "", "lang": "en",
     "source": {"repo": "wire/one"}, "labels": ["facial_recognition"]},
    {"id": "b", "title": "Farm uses facial recognition on cows", "summary": "", "lang": "en",
     "source": {"repo": "wire/one"}, "labels": []},
    {"id": "c", "title": "Hotel leaked guest records", "summary": "Names and rooms.", "lang": "en",
     "source": "blog", "labels": ["data-leak"]},
    {"id": "d", "title": "Leaked renders of a new phone", "summary": "", "lang": "en",
     "source": "blog", "labels": []},
    {"id": "e", "title": "Gym adds palm scanners", "summary": "Members pay by hand.", "lang": "en",
     "source": "blog", "labels": ["facial-recognition"]},
    {"id": "f", "title": "Kiosk face scan checks ages", "summary": "", "lang": "zh",
     "source": "blog", "labels": ["facial-recognition"]},
]  # fmt: skip


def monitor(*args: str, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=dict(os.environ),
    )


def setup(tmp_path: Path, lines: list[str] | None = None) -> tuple[Path, Path, Path]:
    before = tmp_path / "before"
    after = tmp_path / "after"
    for folder, text in ((before, FACES), (after, FACES_AFTER)):
        folder.mkdir()
        (folder / "rules.yaml").write_text(text, encoding="utf-8")
    labelled = tmp_path / "labelled.jsonl"
    if lines is None:
        lines = [json.dumps(item) for item in ITEMS]
    labelled.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return before, after, labelled


def score_json(*args: str) -> dict:
    out = monitor("rules", "score", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_scores_each_tag_and_names_the_mistakes(tmp_path):
    before, _, labelled = setup(tmp_path)
    report = score_json(str(labelled), "--rules", str(before))
    fr, dl = report["tags"]["facial-recognition"], report["tags"]["data-leak"]
    # a and f found, e missed (no palm rule), b excluded by "cows"
    assert (fr["tp"], fr["fp"], fr["fn"]) == (2, 0, 1)
    assert (fr["precision"], fr["recall"], fr["f1"]) == (1.0, 0.667, 0.8)
    # c found, d is a false positive on "renders"
    assert (dl["tp"], dl["fp"], dl["fn"]) == (1, 1, 0)
    (fp,) = report["false_positives"]
    assert (fp["id"], fp["line"], fp["tag"]) == ("d", 4, "data-leak")
    assert fp["fired"] == [
        {"rule": "leaks", "terms": ["Leaked", "renders"]}
    ]  # the words as the story wrote them
    (fn,) = report["false_negatives"]
    assert (fn["id"], fn["tag"]) == ("e", "facial-recognition")
    assert fn["nearest"]["rule"] in ("faces", "fingerprints")

    text = monitor("rules", "score", str(labelled), "--rules", str(before)).stdout
    assert "labelled.jsonl:4 [data-leak] d: Leaked renders of a new phone" in text
    assert "fired leaks: Leaked, renders" in text
    assert "labelled.jsonl:5 [facial-recognition] e: Gym adds palm scanners" in text
    assert "nearest miss" in text


def test_breakdowns_by_language_source_and_rule(tmp_path):
    before, _, labelled = setup(tmp_path)
    by_lang = score_json(str(labelled), "--rules", str(before), "--by", "lang")
    assert by_lang["groups"]["zh"]["facial-recognition"]["tp"] == 1
    assert by_lang["groups"]["en"]["facial-recognition"]["fn"] == 1
    by_source = score_json(str(labelled), "--rules", str(before), "--by", "source")
    # a mapping's `repo` names the source; a string is the source itself
    assert set(by_source["groups"]) == {"wire/one", "blog"}
    assert by_source["groups"]["blog"]["data-leak"]["fp"] == 1
    by_rule = score_json(str(labelled), "--rules", str(before), "--by", "rule")
    assert by_rule["rules_alone"]["leaks"] == {
        "matched": 2,
        "tp": 1,
        "fp": 1,
        "precision": 0.5,
        "caught": 1.0,
    }
    assert by_rule["rules_alone"]["fingerprints"]["matched"] == 0
    text = monitor("rules", "score", str(labelled), "--rules", str(before), "--by", "rule").stdout
    assert "each rule alone" in text and "fingerprints" in text


def test_compare_lists_the_flips_between_two_rule_folders(tmp_path):
    before, after, labelled = setup(tmp_path)
    report = score_json(str(labelled), "--rules", str(before), "--compare", str(after))
    flips = {(f["id"], f["tag"]): f for f in report["compare"]["flips"]}
    assert set(flips) == {("d", "data-leak"), ("f", "facial-recognition")}
    assert flips[("d", "data-leak")]["change"] == "fixed"
    assert flips[("f", "facial-recognition")]["change"] == "broken"
    assert flips[("f", "facial-recognition")]["fired"] == [
        {"rule": "faces", "terms": ["face scan"]}
    ]
    assert report["compare"]["tags"]["data-leak"]["fp"] == 0
    text = monitor(
        "rules", "score", str(labelled), "--rules", str(before), "--compare", str(after)
    ).stdout
    assert "flips (2)" in text
    assert "labelled.jsonl:4 [data-leak] fixed: match -> no match d:" in text
    assert "labelled.jsonl:6 [facial-recognition] broken: match -> no match f:" in text


def test_bad_lines_are_reported_one_line_each_with_file_and_line(tmp_path):
    good = json.dumps(ITEMS[0])
    lines = [
        good,
        '{"title": "x", "summary": ',
        json.dumps({"title": "x", "labels": []}),
        json.dumps({"title": "x", "summary": "", "labels": ["ransomware"]}),
        "[1, 2]",
        json.dumps({"title": "x", "summary": "", "labels": "data-leak"}),
    ]
    before, _, labelled = setup(tmp_path, lines)
    out = monitor("rules", "score", str(labelled), "--rules", str(before))
    assert out.returncode == 2
    assert out.stdout == ""
    errors = out.stderr.splitlines()
    assert len(errors) == 5, out.stderr
    assert errors[0].startswith(f"{labelled}:2:") and "not JSON" in errors[0]
    assert errors[1] == f"{labelled}:3: missing field summary"
    assert errors[2].startswith(f"{labelled}:4: unknown tag 'ransomware'")
    assert "data-leak, facial-recognition" in errors[2]
    assert errors[3] == f"{labelled}:5: expected a JSON object"
    assert errors[4] == f"{labelled}:6: 'labels' must be a list of tags"


def test_a_broken_rule_folder_stops_the_score(tmp_path):
    before, _, labelled = setup(tmp_path)
    (before / "rules.yaml").write_text("rules:\n  - id: x\n    match: []\n    oops: 1\n")
    out = monitor("rules", "score", str(labelled), "--rules", str(before))
    assert out.returncode == 2
    assert str(before / "rules.yaml") + ":" in out.stderr


def test_the_shipped_example_scores_with_the_shipped_rules(tmp_path):
    report = score_json(str(EXAMPLE), "--rules", str(ROOT / "rules"), "--by", "lang")
    assert report["items"] == 12
    assert set(report["tags"]) == {"facial-recognition", "data-leak"}
    assert set(report["groups"]) == {"en", "zh"}
    # every labelled item is either found or listed as a miss, with its line
    for tag, counts in report["tags"].items():
        misses = [r for r in report["false_negatives"] if r["tag"] == tag]
        assert counts["fn"] == len(misses)
        assert all(r["nearest"] for r in misses)
    # the example folder sits under rules/ but is not read as a rule file
    rules = monitor("rules", "test", "--rules", str(ROOT / "rules"))
    assert rules.returncode == 0, rules.stdout


def test_the_nearest_miss_is_the_rule_an_exclusion_stopped(tmp_path):
    item = {
        "id": "g",
        "title": "Farm gate adds facial recognition for workers, and counts cows",
        "summary": "",
        "labels": ["facial-recognition"],
    }
    before, _, labelled = setup(tmp_path, [json.dumps(item)])
    report = score_json(str(labelled), "--rules", str(before))
    (fn,) = report["false_negatives"]
    assert fn["nearest"]["rule"] == "faces"
    assert "excluded by 'cows'" in fn["nearest"]["reason"]
    assert fn["nearest"]["found"] == ["cows", "facial recognition"]
