"""The plain-tag reading of feed text gives what lxml gives: on every
text field of the fixture feeds, and on generated fragments of the tags,
attributes, entities and whitespace it accepts."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from monitor.sources.fastfeed import (
    _PLAIN_BLOCK,
    _PLAIN_INLINE,
    _html_text,
    _lxml_text,
    _plain_text,
)
from monitor.sources.text import collapse

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture_fragments() -> list[str]:
    out = []
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    for f in sorted(FIXTURES.rglob("*")):
        if not f.is_file() or f.suffix not in (".xml", ".rss", ".atom", ""):
            continue
        try:
            root = etree.fromstring(f.read_bytes(), parser)
        except (etree.XMLSyntaxError, ValueError):
            continue
        if root is None:
            continue
        for el in root.iter():
            if isinstance(el.tag, str) and el.text and "<" in el.text:
                out.append(el.text)
    return out


def test_fixture_fragments_read_the_same_both_ways():
    fragments = _fixture_fragments()
    plain = [f for f in fragments if _plain_text(f) is not None]
    assert plain, "the fixtures hold fragments of plain tags"
    for f in fragments:
        assert _html_text(f) == _lxml_text(f), f


words = st.sampled_from(
    [
        "word",
        "Face",
        "人脸识别",
        "data",
        " ",
        "  ",
        "\n",
        "\t",
        "&amp;",
        "&lt;",
        "&gt;",
        "&quot;",
        "&#39;",
        "&nbsp;",
        "&eacute;",
        "&#x4eba;",
        "a&b",
        "x > y",
        "!",
        "'",
        '"',
        "=",
        "/",
        "é",
    ]
)
names = st.sampled_from(sorted(_PLAIN_BLOCK | _PLAIN_INLINE) + ["P", "Br", "A"])
attrs = st.sampled_from(
    ["", ' href="https://e.org/a?b=1&amp;c=2"', " class=x", " title='it is'", " data-x", ' alt=""']
)


@st.composite
def soup(draw) -> str:
    """Any mix of the accepted pieces, nested or not."""
    out = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            out.append(draw(words))
        elif kind == 1:
            out.append(f"<{draw(names)}{draw(attrs)}>")
        elif kind == 2:
            out.append(f"</{draw(names)}>")
        else:
            out.append(f"<{draw(names)}{draw(attrs)}/>")
    return "".join(out)


def nested() -> st.SearchStrategy[str]:
    """Properly nested fragments: what a feed's summary usually is."""
    void = st.builds(lambda n, a: f"<{n}{a}>", st.sampled_from(["br", "hr", "img"]), attrs)
    closed = sorted((_PLAIN_BLOCK | _PLAIN_INLINE) - {"br", "hr", "img"})

    def wrap(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.builds(
            lambda n, a, body: f"<{n}{a}>{body}</{n}>", st.sampled_from(closed), attrs, inner
        ) | st.lists(inner, max_size=4).map("".join)

    return st.recursive(words | void, wrap, max_leaves=12)


@settings(max_examples=500, deadline=None)
@given(soup())
def test_whatever_is_read_plainly_reads_as_lxml_reads_it(fragment):
    if _plain_text(fragment) is not None:
        assert _html_text(fragment) == _lxml_text(fragment)


@settings(max_examples=500, deadline=None)
@given(nested())
def test_nested_fragments_are_read_plainly_and_as_lxml_reads_them(fragment):
    assert _plain_text(fragment) is not None
    assert _html_text(fragment) == _lxml_text(fragment)


def test_anything_else_goes_to_lxml():
    for f in [
        "<p>a</p><!-- note -->b",
        "<script>x</script>y",
        '<a title="x>y">z</a>',
        "<table><tr><td>a</td></tr></table>",
        "a < b <p>c</p>",
        "<pre>\nx</pre>",
    ]:
        assert _plain_text(f) is None, f


def test_collapse_splits_on_what_a_regular_expression_calls_space():
    space = re.compile(r"\s")
    for n in range(sys.maxunicode + 1):
        c = chr(n)
        assert (space.fullmatch(c) is not None) == c.isspace(), hex(n)
    assert collapse("\u3000 a\xa0\x1c b\u2028\n") == "a b"
