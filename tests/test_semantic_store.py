"""A story's embedding is made once, when the story is new (never in a
baseline), kept in the state, and read back by replay instead of being
made again; an older state gains the table when it is opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_hostile import rss_doc

from monitor.cli import main
from monitor.config import Config, FetchSettings, SourceConfig
from monitor.engine import load_rules
from monitor.models import Story
from monitor.semantic import encoder
from monitor.service import Monitor
from monitor.store import SCHEMA_VERSION, Planned, Store

RULES = """\
rules:
  - id: faces-by-meaning
    title: faces by meaning
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
ON_TOPIC = "Station cameras scan the faces of protesters and match them to police files"
OLD = [("w-0", "Harbour festival draws record crowds", "https://wire.example/0")]


def setup(tmp_path: Path, http_server):
    rules = tmp_path / "rules" / "s.yaml"
    rules.parent.mkdir()
    rules.write_text(RULES, encoding="utf-8")
    src = SourceConfig(name="wire", kind="rss", url=http_server.url("/feed.xml"))
    http_server.add("/feed.xml", rss_doc(OLD), content_type="application/rss+xml")
    return rules, src


def test_embedding_kept_when_new_never_for_a_baseline_and_reused_by_replay(
    tmp_path, http_server, monkeypatch, capsys
):
    rules, src = setup(tmp_path, http_server)
    ruleset, _ = load_rules([rules])
    state = tmp_path / "s.db"
    config = Config(state=state, sources=[src], fetch=FetchSettings(per_host_delay=0, workers=1))
    mon = Monitor(config, ruleset)
    try:
        mon.cycle()  # the baseline: stored, never embedded
        assert mon.store.stored_vectors() == 0
        new = [("w-1", ON_TOPIC, "https://wire.example/1"), *OLD]
        http_server.add("/feed.xml", rss_doc(new), content_type="application/rss+xml")
        out = mon.cycle([src])
        assert out.polls[0].matched == 1
        assert mon.store.stored_vectors() == 1
        kept = mon.store.vectors_since(0, encoder.encoder_id())
        assert list(kept) == [("wire", "guid:w-1")]
        fresh = encoder.embed_one(
            encoder.story_text({"title": ON_TOPIC, "summary": f"Text of {ON_TOPIC}."})
        )
        assert float(encoder.from_bytes(kept[("wire", "guid:w-1")]) @ fresh) > 0.999
    finally:
        mon.close()

    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f"state: {state}\nrules: {rules}\n"
        f"sources:\n  - name: wire\n    kind: rss\n    url: {src.url}\n",
        encoding="utf-8",
    )
    # the baseline story, stored without a vector, is embedded on this first
    # replay and kept; the new story's stored vector is read back
    assert main(["replay", "--config", str(config_file), "--since", "1d"]) == 0
    assert "2 stored stories since 1d, 1 would have matched: faces-by-meaning 1" in (
        capsys.readouterr().out
    )
    store = Store(state)
    try:
        assert store.stored_vectors() == 2
    finally:
        store.close()

    def no_encoder():
        raise AssertionError("replay embedded a story whose vector is stored")

    # every story has its vector now, and the rule's examples were embedded
    # once in this process: this replay must not call the encoder at all
    monkeypatch.setattr(encoder, "_encoder", no_encoder)
    assert main(["replay", "--config", str(config_file), "--since", "1d"]) == 0
    assert "1 would have matched: faces-by-meaning 1" in capsys.readouterr().out


def test_without_a_semantic_rule_nothing_is_embedded(tmp_path, http_server, monkeypatch):
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: cams\n    title: cams\n    match: [cameras]\n", encoding="utf-8"
    )
    ruleset, _ = load_rules([tmp_path / "r.yaml"])
    _, src = setup(tmp_path, http_server)

    def no_encoder():
        raise AssertionError("a story was embedded with no semantic rule enabled")

    monkeypatch.setattr(encoder, "_encoder", no_encoder)
    config = Config(
        state=tmp_path / "s.db", sources=[src], fetch=FetchSettings(per_host_delay=0, workers=1)
    )
    mon = Monitor(config, ruleset)
    try:
        mon.cycle()
        new = [("w-1", ON_TOPIC, "https://wire.example/1"), *OLD]
        http_server.add("/feed.xml", rss_doc(new), content_type="application/rss+xml")
        assert mon.cycle([src]).polls[0].matched == 1
        assert mon.store.stored_vectors() == 0
    finally:
        mon.close()


def test_a_schema_4_state_gains_the_vectors_table(tmp_path):
    path = tmp_path / "old.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE story_vectors")
    db.execute("UPDATE meta SET value='4' WHERE key='schema_version'")
    db.commit()
    db.close()
    store = Store(path)
    try:
        assert store.schema_version == SCHEMA_VERSION == 7
        assert store.stored_vectors() == 0
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """The vectors on both backends: the same SQL, the same bytes back."""
    s = Store(
        tmp_path / "state.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    s.ensure_source("wire", "https://e.org/feed")
    yield s
    s.close()


def test_vectors_round_trip_on_both_backends(store):
    vec = encoder.embed_one("Leaked customer records were posted on a forum")
    blob = encoder.to_bytes(vec)
    enc = encoder.encoder_id()
    stories = [
        Story(source="wire", key=f"k{i}", title=f"Story {i}", link=f"https://e.org/{i}", summary="")
        for i in range(2)
    ]
    store.record_poll(
        "wire",
        [Planned(stories[0], vector=(enc, blob)), Planned(stories[1])],
        etag=None,
        last_modified=None,
        next_check_at=0,
        now=1000.0,
    )
    assert store.vectors_since(0, enc) == {("wire", "k0"): blob}
    assert store.vectors_since(0, "another encoder") == {}
    assert store.vectors_since(2000.0, enc) == {}  # first seen before
    assert store.save_vectors({("wire", "k1"): blob, ("wire", "gone"): blob}, enc) == 1
    assert store.stored_vectors() == 2
    back = encoder.from_bytes(store.vectors_since(0, enc)[("wire", "k1")])
    assert float(back @ vec) > 0.999
