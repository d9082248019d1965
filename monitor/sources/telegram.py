"""A public Telegram channel's web preview (``https://t.me/s/NAME``): the
channel's last messages as one HTML page.

Each message is a story: ``data-post="NAME/1234"`` is its id, the
``<time datetime=...>`` of its date link its time, and its text the
summary (the first line, shortened, the title). The page is scraped, so
robots.txt is asked first. A channel without a public preview answers with
its plain profile page: that is "not_a_feed", not an empty channel.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin

from ..identity import RawItem
from .dates import parse_date
from .errors import SourceError
from .kind import Kind, Known, Search
from .mastodon import short_title
from .text import HTML_PARSER, element_text

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


def parse_telegram(body: bytes, url: str) -> list[RawItem]:
    from bs4 import BeautifulSoup  # here: a start-up without telegram sources never needs it

    soup = BeautifulSoup(body, HTML_PARSER)
    messages = soup.select("[data-post]")
    if not messages:
        if soup.select_one(".tgme_channel_history, .tgme_widget_message_wrap"):
            return []  # a preview with no message yet
        raise SourceError("not_a_feed", "page is not a Telegram channel preview (no messages)")
    out = []
    for msg in messages:
        post = str(msg.get("data-post") or "").strip()
        if "/" not in post:
            continue
        text_el = msg.select_one(".tgme_widget_message_text")
        if text_el is None:
            continue  # a photo or a sticker alone: nothing a rule could read
        for br in text_el.find_all("br"):
            br.replace_with("\n")
        first = next((line for line in text_el.get_text().split("\n") if line.strip()), "")
        text = element_text(text_el)
        if not text:
            continue
        date = msg.select_one("a.tgme_widget_message_date")
        time_el = msg.select_one("time[datetime]")
        href = str(date.get("href") or "").strip() if date is not None else ""
        out.append(
            RawItem(
                title=short_title(first or text),
                link=urljoin(url, href) if href else f"https://t.me/{post}",
                summary=text,
                published=parse_date(str(time_el["datetime"])) if time_el is not None else None,
                guid=f"tg:{post}",
                outlet=post.split("/", 1)[0],
            )
        )
    return out


def _url(src: SourceConfig, base: str, query: str | None, lang: str | None) -> str:
    return f"{base.rstrip('/')}/s/{quote((src.channel or '').lstrip('@'))}"


def _parse(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    return parse_telegram(result.body, result.url)


def _check(src: SourceConfig) -> None:
    if src.channel is None and not src.url:
        raise ValueError("a telegram source needs 'channel' (the name in t.me/s/NAME)")
    if src.channel is not None and not _CHANNEL.match(src.channel.lstrip("@")):
        raise ValueError(f"'{src.channel}' is not a Telegram channel name")


KIND = Kind(
    "telegram",
    _parse,
    options=("api_base", "channel"),
    check=_check,
    search=Search("https://t.me", _url, chinese=False),
    robots=True,
)
