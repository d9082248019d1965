"""The semantic layer: the encoder with and without the extra, training a
classifier from labelled lines, and the model file it writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from monitor.semantic import encoder, head, train
from monitor.yamlfile import FileError

FACES = Path(__file__).parent / "fixtures" / "semantic" / "faces.jsonl"


@pytest.fixture
def without_extra(monkeypatch):
    """The encoder package made unimportable, as when the extra is not installed."""
    monkeypatch.setitem(sys.modules, encoder.ENCODER_NAME, None)
    monkeypatch.setattr(encoder, "_model", None)


def test_encoder_embeds_english_and_chinese_by_meaning():
    vecs = encoder.embed(
        [
            "police scan faces of protesters",
            "警方用人脸识别抓人",
            "the bakery sells fresh bread every morning",
            "",
        ]
    )
    assert vecs.shape == (4, encoder.DIMS)
    same, other = float(vecs[0] @ vecs[1]), float(vecs[0] @ vecs[2])
    assert same > other + 0.2
    assert not vecs[3].any()  # an empty text is a zero vector, not an encoder call


def test_vector_bytes_round_trip():
    vec = encoder.embed_one("a story about leaked customer records")
    back = encoder.from_bytes(encoder.to_bytes(vec))
    assert len(encoder.to_bytes(vec)) == 2 * encoder.DIMS
    assert float(back @ vec) > 0.999
    with pytest.raises(ValueError):
        encoder.from_bytes(b"\0" * 10)


def test_without_the_extra_the_error_names_it(without_extra):
    assert not encoder.available()
    with pytest.raises(encoder.SemanticUnavailable) as err:
        encoder.embed(["anything"])
    assert "pip install 'privacy-monitor[semantic]'" in str(err.value)
    with pytest.raises(encoder.SemanticUnavailable):
        encoder.encoder_id()


def test_train_writes_a_small_model_that_scores_held_out_stories(tmp_path, capsys):
    out = tmp_path / "faces.model"
    report = train.train(FACES, "facial-recognition", out)
    assert report.items == 30 and report.positives == 15
    assert "sources, each held out" in report.folds
    assert report.f1 > 0.7
    assert out.stat().st_size < 8 * 1024
    model = head.load(out)
    assert model.tag == "facial-recognition"
    assert model.encoder == encoder.encoder_id()
    assert model.trained["cross_validated"]["f1"] == round(report.f1, 4)
    on, off = encoder.embed(
        [
            "Train station cameras identify commuters by their faces",
            "Prices of vegetables rose at the market this week",
        ]
    )
    assert model.score(on) > 0.5 > model.score(off)


def test_label_spelling_with_underscore_is_the_same_tag(tmp_path):
    lines = [json.loads(x) for x in FACES.read_text(encoding="utf-8").splitlines()]
    for item in lines:
        item["labels"] = [x.replace("-", "_") for x in item["labels"]]
    data = tmp_path / "u.jsonl"
    data.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    assert train.read_labelled(data, "facial-recognition")[0].positive


def test_a_model_of_another_encoder_is_refused(tmp_path):
    out = tmp_path / "m.model"
    train.train(FACES, "facial-recognition", out)
    doc = json.loads(out.read_text())
    doc["encoder"] = "some-other-encoder 1.0"
    out.write_text(json.dumps(doc))
    with pytest.raises(FileError) as err:
        head.load(out)
    assert str(err.value).startswith(f"{out}: the model was trained with encoder")
    assert "some-other-encoder 1.0" in str(err.value) and "retrain" in str(err.value)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("{not json", ":1:2: not a classifier model (not JSON)"),
        ('{"format": "something"}', ":1:1: not a classifier model"),
        ('{"format": "privacy-monitor classifier", "version": 9}', "version 9 is not supported"),
    ],
)
def test_damaged_model_files_are_one_line(tmp_path, text, problem):
    path = tmp_path / "bad.model"
    path.write_text(text)
    with pytest.raises(FileError) as err:
        head.load(path, expect_encoder="x")
    assert problem in str(err.value) and "\n" not in str(err.value)


def test_damaged_weights_are_refused(tmp_path):
    out = tmp_path / "m.model"
    train.train(FACES, "facial-recognition", out)
    doc = json.loads(out.read_text())
    doc["weights"] = doc["weights"][:40]
    out.write_text(json.dumps(doc))
    with pytest.raises(FileError, match="weights are damaged"):
        head.load(out)


@pytest.mark.parametrize(
    "line, where",
    [
        ('{"title": "ok", "labels": []}\n{"title": "x", "labels": [', ":2:"),
        ('{"title": "ok", "labels": "data-leak"}', ":1:17: 'labels' must be a list"),
        ('{"summary": "no title"}', ":1:1: each line needs an object"),
    ],
)
def test_bad_labelled_lines_name_file_line_and_column(tmp_path, line, where):
    data = tmp_path / "l.jsonl"
    data.write_text(line, encoding="utf-8")
    with pytest.raises(FileError) as err:
        train.read_labelled(data, "data-leak")
    assert str(err.value).startswith(str(data) + where)


def test_one_sided_labels_are_refused(tmp_path):
    data = tmp_path / "l.jsonl"
    data.write_text('{"title": "a", "labels": []}\n{"title": "b", "labels": []}\n')
    with pytest.raises(FileError, match="needs items with and without the label"):
        train.read_labelled(data, "data-leak")
