"""Near-duplicates across outlets: a wire story republished with a new
headline, a trimmed lede and an added paragraph is one alert listing the
outlets; a different story on the same subject is not folded in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import monitor as monitor_cli
from test_hostile import rss_doc

from monitor.config import Config, FetchSettings, SourceConfig
from monitor.dedupe import same_story, shingles, signature, similarity, story_text
from monitor.engine import load_rules
from monitor.models import Story
from monitor.service import Monitor

WIRE_P1 = (
    "The transport authority will install facial recognition cameras at twelve metro stations from "
    "March, officials said on Monday, in a pilot meant to find people on police watch lists."
)
WIRE_P2 = (
    "The cameras will compare the faces of passengers with a database of wanted persons, and matches "
    "will be reviewed by an officer before anyone is stopped, according to a statement from the agency."
)
WIRE_P3 = (
    "Civil liberties groups said the pilot had been approved without a public consultation and asked the "
    "city data protection office to review how long the images would be kept and who could see them."
)
WIRE_P4 = (
    "The authority said footage of people who are not matched would be deleted within seventy-two hours "
    "and that the system had been tested for accuracy on several thousand volunteers last year."
)

ORIGINAL = (
    "Metro to test facial recognition cameras at twelve stations",
    [WIRE_P1, WIRE_P2, WIRE_P3, WIRE_P4],
)
COPIES = [
    (
        "Face scanning comes to your morning commute",  # new headline, lede trimmed
        [WIRE_P1.split(", officials said")[0] + ".", WIRE_P2, WIRE_P3, WIRE_P4],
    ),
    (
        "City metro pilots face recognition to catch wanted people",  # added paragraph of its own
        [
            WIRE_P1,
            WIRE_P2,
            WIRE_P3,
            WIRE_P4,
            "Readers can send their views on the pilot to the letters desk of this newspaper.",
        ],
    ),
    (
        "Twelve stations, one watch list: what the metro camera pilot means",  # last paragraph dropped, local note
        ["In our city, " + WIRE_P1[0].lower() + WIRE_P1[1:], WIRE_P2, WIRE_P3],
    ),
]
SAME_SUBJECT = (
    "Council rejects face recognition for school entrances",
    [
        "Councillors voted against a plan to use facial recognition at the gates of four primary schools, "
        "saying parents had not been asked and that the cameras were a poor use of the education budget.",
        "The supplier said it would offer the system to private schools instead, and the head of the "
        "parents association welcomed the vote as a sensible decision for the children of the district.",
    ],
)

RULES = """\
rules:
  - id: face-recognition
    title: Facial recognition
    severity: high
    match:
      any: ["facial recognition", "face recognition", "face scanning"]
"""


def text(story) -> str:
    return story[0] + " " + " ".join(story[1])


def test_syndicated_copies_are_near_duplicates_and_a_same_subject_story_is_not():
    orig = signature(text(ORIGINAL))
    for copy in COPIES:
        assert similarity(orig, signature(text(copy))) >= 0.5, copy[0]
    assert similarity(orig, signature(text(SAME_SUBJECT))) < 0.3


def test_chinese_text_is_shingled_by_character_pairs():
    assert {"人脸", "脸识", "识别"} <= shingles("人脸识别")
    assert signature("短") is None  # too little text to say anything


def test_one_alert_lists_the_outlets(tmp_path, http_server):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    ruleset, _ = load_rules([rules])
    outlets = ["wire", "daily", "courier", "gazette", "school-news"]
    srcs = [SourceConfig(name=n, kind="rss", url=http_server.url(f"/{n}.xml")) for n in outlets]
    for n in outlets:
        http_server.add(
            f"/{n}.xml",
            rss_doc([(f"{n}-0", "Old story", f"https://{n}.example/0")]),
            content_type="application/rss+xml",
        )
    mon = Monitor(
        Config(
            state=tmp_path / "s.db", sources=srcs, fetch=FetchSettings(per_host_delay=0, workers=1)
        ),
        ruleset,
    )
    try:
        mon.cycle()  # baselines
        stories = dict(zip(outlets, [ORIGINAL, *COPIES, SAME_SUBJECT]))
        for n, (title, paras) in stories.items():
            doc = rss_doc(
                [
                    (f"{n}-1", title, f"https://{n}.example/1"),
                    (f"{n}-0", "Old story", f"https://{n}.example/0"),
                ]
            )
            body = "".join(f"&lt;p&gt;{p}&lt;/p&gt;" for p in paras)
            doc = doc.replace(f"Text of {title}.".encode(), body.encode())
            http_server.add(f"/{n}.xml", doc, content_type="application/rss+xml")
        out = mon.cycle(srcs)  # workers=1: the wire is polled first
        assert sum(p.matched for p in out.polls) == 5
        rows = mon.store.db.execute(
            "SELECT st.source, o.body, o.alert FROM outbox o JOIN stories st ON st.id=o.story_id"
        ).fetchall()
        assert sorted(r["source"] for r in rows) == ["school-news", "wire"]
        wire = next(r for r in rows if r["source"] == "wire")
        assert "Also reported by: daily, courier, gazette" in wire["body"]
        # what each channel renders when it sends: the source line names the outlets
        assert (
            json.loads(wire["alert"])["story"]["source"] == "wire (also: daily, courier, gazette)"
        )
        dup = mon.store.db.execute("SELECT original_id FROM duplicates").fetchall()
        assert len(dup) == 3
        assert sorted(mon.store.outlets_of(dup[0]["original_id"])) == [
            "courier",
            "daily",
            "gazette",
            "wire",
        ]
    finally:
        mon.close()
    # the folded copies are shown, not lost: in status and in replay
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"state: {tmp_path / 's.db'}\nrules: {rules}\nsources:\n"
        + "".join(
            f"  - {{name: {n}, kind: rss, url: 'https://{n}.example/feed'}}\n" for n in outlets
        ),
        encoding="utf-8",
    )
    status = monitor_cli("status", "--config", str(cfg), "--stories", "20")
    assert status.returncode == 0, status.stderr
    assert status.stdout.count(f"copy of wire: {ORIGINAL[0]}") == 3
    replay = monitor_cli("replay", "--config", str(cfg), "--since", "1d", "--json")
    rows = [json.loads(x) for x in replay.stdout.splitlines() if x.strip()]
    copies = {r["source"]: r["copy_of"] for r in rows}
    assert copies["wire"] is None and copies["school-news"] is None
    assert all(copies[n] == {"source": "wire", "title": ORIGINAL[0]} for n in outlets[1:4])


# -- the decision on each candidate: copies fold, distinct stories never do ----------

PAIRS = Path(__file__).parent.parent / "bench" / "labelled" / "story_pairs.jsonl"


def _story(d: dict, n: int) -> Story:
    guid = d.get("guid")
    return Story(
        source=d["source"],
        key=f"guid:{guid}" if guid else f"hash:{n}",
        title=d["title"],
        summary=d["summary"],
        guid=guid,
    )


def _pairs(kind: str) -> list[tuple[Story, Story, bool]]:
    rows = [json.loads(x) for x in PAIRS.read_text(encoding="utf-8").splitlines() if x]
    return [
        (_story(r["a"], 2 * i), _story(r["b"], 2 * i + 1), r["same"])
        for i, r in enumerate(rows)
        if r["kind"] == kind
    ]


@pytest.mark.parametrize(
    "kind",
    [
        "template_en",
        "template_zh",
        "same_topic_en",
        "same_topic_zh",
        "same_source_guids",
        "syndication_en",
        "syndication_zh",
        "verbatim",
    ],
)
def test_each_kind_of_labelled_pair_is_judged_right(kind):
    pairs = _pairs(kind)
    assert pairs
    for a, b, same in pairs:
        assert same_story(a, b) is same, (a.title, b.title)
        assert same_story(b, a) is same, (b.title, a.title)


def test_ten_cities_off_one_wire_template_are_ten_stories():
    cities = ["Croydon", "Lisbon", "Leeds", "Porto", "Bristol", "Ghent", "Turin", "Bergen"]
    stories = [
        Story(
            source="wire",
            key=f"url:https://wire.example/{c}",
            title=f"{c} police expand live facial recognition cameras to the {20 + i} busiest junctions",
            summary=f"Police in {c} said the cameras would cover {20 + i} junctions by the end of the year.",
        )
        for i, c in enumerate(cities)
    ]
    first = stories[0]
    assert not any(same_story(first, s) for s in stories[1:])
    # while the MinHash estimate alone would have folded them
    sig = signature(story_text(first))
    assert any(similarity(sig, signature(story_text(s))) >= 0.5 for s in stories[1:])


def test_two_guids_of_one_source_never_fold_even_word_for_word():
    a = Story(source="wire", key="guid:1", title="Same words", summary=WIRE_P1, guid="1")
    b = Story(source="wire", key="guid:2", title="Same words", summary=WIRE_P1, guid="2")
    assert not same_story(a, b)
    c = Story(source="other", key="guid:9", title="Same words", summary=WIRE_P1, guid="9")
    assert same_story(a, c)


def _monitor(tmp_path, srcs):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    ruleset, _ = load_rules([rules])
    return Monitor(
        Config(
            state=tmp_path / "s.db", sources=srcs, fetch=FetchSettings(per_host_delay=0, workers=1)
        ),
        ruleset,
    )


def test_a_wire_of_templated_incidents_alerts_each_one(tmp_path, http_server):
    """Ten cities off one template, one per poll, each with its own GUID:
    ten alerts, none folded into the first."""
    src = SourceConfig(name="wire", kind="rss", url=http_server.url("/wire.xml"))
    cities = ["Croydon", "Lisbon", "Leeds", "Porto", "Bristol", "Ghent", "Turin", "Bergen"]
    items: list[tuple[str, str, str]] = [("w-0", "Old story", "https://wire.example/0")]
    http_server.add("/wire.xml", rss_doc(items), content_type="application/rss+xml")
    mon = _monitor(tmp_path, [src])
    try:
        mon.cycle()  # baseline
        for i, city in enumerate(cities):
            title = f"{city} police expand live facial recognition cameras to the {30 + i} busiest junctions"
            items.insert(0, (f"w-{city}", title, f"https://wire.example/{city.lower()}"))
            http_server.add("/wire.xml", rss_doc(items), content_type="application/rss+xml")
            mon.cycle([src])
        alerted = mon.store.db.execute(
            "SELECT DISTINCT st.title FROM outbox o JOIN stories st ON st.id=o.story_id"
        ).fetchall()
        assert len(alerted) == len(cities)
        assert not mon.store.db.execute("SELECT * FROM duplicates").fetchall()
    finally:
        mon.close()


def test_posts_told_apart_only_by_fragment_are_all_kept_and_alerted(tmp_path, http_server):
    src = SourceConfig(name="blog", kind="rss", url=http_server.url("/blog.xml"))

    def doc(n: int) -> bytes:
        return rss_doc(
            [
                (
                    None,
                    f"Note {k}: facial recognition at gate {k}",
                    f"https://blog.example/n.html#p{k}",
                )
                for k in range(n, 0, -1)
            ]
        )

    http_server.add("/blog.xml", doc(16), content_type="application/rss+xml")
    mon = _monitor(tmp_path, [src])
    try:
        mon.cycle()  # baseline: every post stored
        assert (
            mon.store.db.execute(
                "SELECT count(*) AS n FROM stories WHERE source='blog'"
            ).fetchone()["n"]
            == 16
        )
        http_server.add("/blog.xml", doc(19), content_type="application/rss+xml")
        mon.cycle([src])
        alerted = mon.store.db.execute(
            "SELECT st.link FROM outbox o JOIN stories st ON st.id=o.story_id"
        ).fetchall()
        assert sorted(r["link"] for r in alerted) == [
            f"https://blog.example/n.html#p{k}" for k in (17, 18, 19)
        ]
    finally:
        mon.close()


def test_a_copy_is_found_among_many_template_stories_judging_a_bounded_few(state, monkeypatch):
    """Headlines off one template share bands with every earlier one: each
    new story is judged against the likeliest copies only, and the real
    copy is still found."""
    import time

    import monitor.dedupe as dedupe
    from monitor.store import Store

    store = Store(state)
    now = time.time()
    original = Story(
        source="wire",
        key="url:https://wire.example/original",
        title="Regional police expand live facial recognition cameras to busy junctions",
        summary=WIRE_P1,
    )
    template = [
        Story(
            source="wire",
            key=f"url:https://wire.example/town-{i}",
            title=f"Town {i} police expand live facial recognition cameras to {i} junctions",
            summary=f"Police in town {i} said the cameras would cover {i} junctions this year.",
        )
        for i in range(300)
    ]
    ids = []
    with store._tx() as tx:
        for s in [original, *template]:
            sig = signature(story_text(s))
            sid = tx.execute(
                "INSERT INTO stories (source, key, title, link, summary, lang, first_seen) "
                "VALUES (?,?,?,?,?,?,?) RETURNING id",
                (s.source, s.key, s.title, "", s.summary, "en", now),
            ).fetchall()[0]["id"]
            ids.append(sid)
            tx.execute(
                "INSERT INTO signatures (story_id, sig, created_at) VALUES (?,?,?)",
                (sid, dedupe.pack(sig), now),
            )
            tx.executemany(
                "INSERT INTO signature_bands (band, story_id) VALUES (?,?)",
                [(b, sid) for b in dedupe.bands(sig)],
            )
    copy = Story(
        source="agency",
        key="url:https://agency.example/copy",
        title=original.title,
        summary=original.summary,
    )
    judged = []
    real = dedupe.similarity
    monkeypatch.setattr(dedupe, "similarity", lambda a, b: judged.append(1) or real(a, b))
    found = store.find_near_duplicate(signature(story_text(copy)), now - 60, copy)
    assert found is not None and found[1] == "wire"
    assert found[0] == ids[0]  # the original
    assert len(judged) <= dedupe.MAX_CANDIDATES
    store.close()


def _band_indexes(store) -> set[str]:
    if store.postgres:
        rows = store.db.execute(
            "SELECT indexname AS name FROM pg_indexes WHERE tablename='signature_bands'"
        )
    else:
        rows = store.db.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='signature_bands'"
        )
    return {r["name"] for r in rows}


def test_a_schema_6_state_gains_the_band_and_story_index(state):
    """A state written before schema 7 has bands indexed by band alone: once
    opened they are indexed by band and story, the old index is gone, and a
    copy is still found within the window and not past it."""
    from monitor.store import SCHEMA_VERSION, Planned, Store

    original = Story(
        source="wire", key="url:https://wire.example/a", title=ORIGINAL[0], summary=WIRE_P1
    )
    store = Store(state)
    store.record_poll(
        "wire",
        [Planned(original, signature=signature(story_text(original)))],
        etag=None,
        last_modified=None,
        next_check_at=0.0,
        now=1000.0,
    )
    store.db.execute("DROP INDEX signature_bands_band_story")
    store.db.execute("CREATE INDEX signature_bands_band ON signature_bands (band)")
    store.db.execute("UPDATE meta SET value='6' WHERE key='schema_version'")
    assert _band_indexes(store) == {"signature_bands_band"}
    store.close()
    store = Store(state)
    try:
        assert store.schema_version == SCHEMA_VERSION == 7
        assert _band_indexes(store) == {"signature_bands_band_story"}
        copy = Story(
            source="agency", key="url:https://agency.example/a", title=ORIGINAL[0], summary=WIRE_P1
        )
        sig = signature(story_text(copy))
        found = store.find_near_duplicate(sig, 900.0, copy)
        assert found is not None and found[1] == "wire"
        assert store.find_near_duplicate(sig, 1001.0, copy) is None  # signed before the window
    finally:
        store.close()
