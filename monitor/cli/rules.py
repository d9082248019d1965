"""`monitor rules list`, `rules match`, `rules test`, `rules explain` and
`rules score`: finding and trying rules before they alert anyone. Nothing
here sends an alert."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from monitor.cli.common import _rules_arg, plural
from monitor.yamlfile import shown


def cmd_rules_list(args) -> int:
    """Every loaded rule: id, title, severity, tags, channels, enabled and
    where it is written."""
    from monitor.engine import load_rules
    from monitor.yamlfile import shown_path

    ruleset, problems = load_rules(_rules_arg(args))
    for p in problems:
        print(shown(p), file=sys.stderr)
    rules = sorted(ruleset.rules, key=lambda r: (str(r.path), r.line or 0))
    if args.json:
        rows = [
            {
                "id": r.id,
                "title": r.title,
                "severity": r.severity,
                "tags": list(r.tags),
                "channels": list(r.channels),
                "enabled": r.enabled,
                "file": shown_path(str(r.path)),
                "line": r.line,
            }
            for r in rules
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 1 if problems else 0
    headers = ("ID", "SEVERITY", "ENABLED", "TAGS", "CHANNELS", "WHERE", "TITLE")
    table = [
        (
            r.id,
            r.severity,
            "yes" if r.enabled else "no",
            ",".join(r.tags) or "-",
            ",".join(r.channels) or "(default)",
            f"{shown_path(str(r.path))}:{r.line}",
            r.title,
        )
        for r in rules
    ]
    widths = [max([len(h)] + [len(t[i]) for t in table]) for i, h in enumerate(headers[:-1])]
    for line in [headers, *table]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1])
    print(
        f"{plural(len(rules), 'rule')}"
        + (f", {plural(len(problems), 'problem')}" if problems else "")
    )
    return 1 if problems else 0


def cmd_rules_match(args) -> int:
    from monitor.engine import Context, load_rules

    ruleset, problems = load_rules(_rules_arg(args))
    for p in problems:
        print(shown(p), file=sys.stderr)
    if problems:
        return 1
    stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    bad = 0
    with stream:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("expected a JSON object")
            except ValueError as e:
                print(f"{args.input}:{n}: not a JSON object: {e}", file=sys.stderr)
                bad += 1
                continue
            fields = {
                k: str(item.get(k) or "") for k in ("title", "summary", "body", "url", "source")
            }
            lang = item.get("lang")
            matches = ruleset.match_fields(
                fields,
                context=Context(source=fields["source"] or None, lang=str(lang) if lang else None),
            )
            out = {
                "id": item.get("id"),
                "matches": [
                    {"rule": m.rule_id, "tags": list(m.tags), "terms": list(m.terms)}
                    for m in matches
                ],
            }
            print(json.dumps(out, ensure_ascii=False))
    return 1 if bad else 0


def cmd_rules_test(args) -> int:
    from monitor.engine import load_rules

    ruleset, problems = load_rules(_rules_arg(args))
    for p in problems:
        print(shown(p))
    failures = ruleset.run_tests()
    for f in failures:
        print(shown(f))
    n_tests = sum(
        len(r.tests.match) + len(r.tests.no_match) if r.tests else 0 for r in ruleset.rules
    )
    print(
        f"{plural(len(ruleset.rules), 'rule')}, {plural(n_tests, 'test')}, "
        f"{len(failures)} failed, {plural(len(problems), 'problem')}"
    )
    return 1 if failures or problems else 0


def cmd_rules_score(args) -> int:
    """`monitor rules score`: the scoring lives in monitor.scoring; the
    command gives it the rules folders, by default the shipped ones."""
    from monitor import scoring

    args.rules = [str(p) for p in _rules_arg(args)]
    return scoring.run(args)


FIELD_NAMES = ("title", "summary", "body", "url", "source")


def item_from_file(path: str) -> dict[str, str]:
    """A JSON object with title/summary/body/url/source, or plain text: its
    first line is the title, the rest the body."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        data = json.loads(stripped)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        item = {k: str(data.get(k) or "") for k in FIELD_NAMES}
        if data.get("lang"):
            item["lang"] = str(data["lang"])
        return item
    title, _, body = stripped.partition("\n")
    return {"title": title.strip(), "body": body.strip()}


def item_from_url(url: str, settings=None, content_link: bool = False) -> dict[str, str]:
    """A page fetched through the monitor's one HTTP door, read as a story:
    its headline, description and paragraphs. `content_link`: the URL came
    from someone other than the operator (the dashboard's playground), so
    private addresses are refused as for links found in content."""
    from bs4 import BeautifulSoup

    from monitor.config import FetchSettings
    from monitor.fetch import Fetcher
    from monitor.textdecode import decode_html

    with Fetcher(settings or FetchSettings()) as fetcher:
        result = fetcher.get(url, content_link=content_link)
    soup = BeautifulSoup(decode_html(result.body, result.content_type), "html.parser")

    def meta(*names: str) -> str:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find(
                "meta", attrs={"name": name}
            )
            if tag and tag.get("content"):
                return str(tag["content"]).strip()
        return ""

    h1 = soup.find("h1")
    title = (
        meta("og:title")
        or (h1.get_text(" ", strip=True) if h1 else "")
        or (soup.title.get_text(" ", strip=True) if soup.title else "")
    )
    body = "\n".join(p.get_text(" ", strip=True) for p in soup.find_all("p"))
    lang = (soup.html.get("lang") if soup.html else None) or ""
    item = {
        "title": title,
        "summary": meta("og:description", "description"),
        "body": body,
        "url": result.url,
    }
    if lang:
        item["lang"] = str(lang)
    return item


def cmd_rules_explain(args) -> int:
    from monitor.engine import Context, load_rules

    ruleset, problems = load_rules(_rules_arg(args))
    for p in problems:
        print(shown(p), file=sys.stderr)
    if ruleset.get(args.rule_id) is None:
        from monitor.yamlfile import did_you_mean

        print(
            f"error: no rule '{args.rule_id}'{did_you_mean(args.rule_id, [r.id for r in ruleset.rules])}",
            file=sys.stderr,
        )
        return 2
    try:
        if args.text is not None:
            item = {"title": args.text}
        elif args.file is not None:
            item = item_from_file(args.file)
        else:
            item = item_from_url(args.url)
    except (OSError, ValueError) as e:
        print(f"error: cannot read the story: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a FetchError names the reason (dns, timeout, http...)
        print(f"error: cannot fetch {args.url}: {e}", file=sys.stderr)
        return 2
    if args.source:
        item["source"] = args.source
    context = Context(
        source=item.get("source") or None,
        lang=args.lang or item.pop("lang", None),
        source_tags=frozenset(args.source_tag or ()),
    )
    item.pop("lang", None)
    explanation = ruleset.explain(args.rule_id, item, context)
    print(explanation.render(args.snippet_chars))
    return 0 if explanation.matched else 1


def cmd_rules_train(args) -> int:
    """A linear head on the story embeddings for one tag, with cross-validated
    precision, recall and F1 (monitor.semantic.train)."""
    from pathlib import Path

    from monitor.semantic.train import command

    return command(Path(args.labelled), args.tag, Path(args.out), args.min, args.l2)
