"""One source as config.yaml writes it. Options common to every kind are
checked here; each kind checks its own (sources/kind.py), and the kinds
come from the registry."""

from __future__ import annotations

import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from monitor.configbase import Strict, parse_duration
from monitor.sources.options import GdeltOptions, JsonPaths, Select
from monitor.sources.registry import KINDS

# The options every kind takes; each of the other fields belongs to the
# kinds whose `options` name it (a test keeps the two in step). A source
# that sets none of another kind's options needs no other kind loaded.
SHARED = frozenset(
    {
        "name",
        "kind",
        "url",
        "interval",
        "lang",
        "timezone",
        "enabled",
        "headers",
        "tags",
        "proxy",
        "full_text",
        "expect_new_within",
    }
)


class SourceConfig(Strict):
    name: str = Field(min_length=1)
    kind: str  # a name in sources.registry.KINDS
    url: str = ""  # search kinds build theirs from the options below
    interval: float = 900.0
    select: Select | None = None
    auto: bool = False  # html only: find article links on a front page without selectors
    json_paths: JsonPaths | None = Field(default=None, alias="json")
    lang: str | None = None  # a hint for stories that do not say their language
    timezone: str = "UTC"  # IANA zone for listing-page times that name none (Asia/Shanghai)
    enabled: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)  # read by rules with a source_tags filter
    proxy: str | None = (
        None  # http://host:port for this source; default: HTTP(S)_PROXY from the environment
    )
    # Fetch each new story's article page and match the rules on its main text too.
    full_text: bool = False
    # Raise "no new items" when the source has had no new story for this long.
    expect_new_within: float | None = None
    # Search kinds (sources/search.py): what to search, and where.
    query: str | None = None  # in the service's own syntax
    queries: Literal["from_rules"] | None = None  # built from rules with discover: true
    api_base: str | None = None  # the service's scheme://host, for a mirror or a test server
    region: str | None = None  # google_news, bing_news: the edition's country (US, GB, DE)
    hashtag: str | None = None  # mastodon: a tag timeline
    channel: str | None = None  # telegram: the NAME of t.me/s/NAME
    gdelt: GdeltOptions | None = None  # gdelt: filters and time span

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("expect_new_within", mode="before")
    @classmethod
    def _expect(cls, v: Any) -> float | None:
        return None if v is None else parse_duration(v)

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(https?|socks5h?)://[^/\s]+", v):
            raise ValueError(f"'{v}' is not a proxy URL (expected e.g. http://proxy.internal:3128)")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{v}' (expected an IANA name such as Asia/Shanghai)"
            ) from None
        return v

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("url", "api_base")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"'{v}' is not an http(s) URL")
        return v

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: Any) -> Any:
        # the registry's names, worded as pydantic words a Literal
        if not isinstance(v, str) or v not in KINDS:
            names = [repr(k) for k in KINDS]
            expected = f"{', '.join(names[:-1])} or {names[-1]}"
            raise PydanticCustomError(
                "literal_error", "Input should be {expected}", {"expected": expected}
            )
        return v

    @model_validator(mode="after")
    def _options_match_kind(self) -> SourceConfig:
        """Each kind checks its own options; another kind's option is refused."""
        own = KINDS[self.kind].options
        given = self.model_fields_set  # an option left out keeps its None/False default
        kinds = KINDS.values() if given - SHARED - set(own) else (KINDS[self.kind],)
        for kind in kinds:
            if kind.name == self.kind:
                if kind.check is not None:
                    kind.check(self)
                continue
            for option in kind.options:
                if option in own or option not in given:
                    continue
                value = getattr(self, option)
                if value is not None and value is not False:
                    written = type(self).model_fields[option].alias or option
                    owners = [k.name for k in KINDS.values() if option in k.options]
                    names = (
                        " or ".join(owners)
                        if len(owners) < 3
                        else (", ".join(owners[:-1]) + " or " + owners[-1])
                    )
                    raise ValueError(f"'{written}' is only for {names} sources, not {self.kind}")
        if KINDS[self.kind].search is not None:
            if not self.url:
                from monitor.sources.search import default_url

                # frozen model: the URL is derived once, here
                object.__setattr__(self, "url", default_url(self))
        elif not self.url:
            raise ValueError("missing required key 'url'")
        return self
