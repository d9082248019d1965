"""Matching speed: the compiled engine against a naive one-regex-per-rule loop.

    python bench/bench_engine.py [--stories 10000] [--naive-stories 500]

Builds 10, 100 and 1,000 rules from realistic term lists (English phrases
and Chinese terms about surveillance and data, combined the way rule
writers combine them: a group of specific phrases, a group of context
words, some `near`, prefixes and exclusions) and matches them over stories
of about 3 KB, about two thirds English and one third Chinese. Prints
MB/s on one core for the engine (the fastest of --repeat passes, since the
machine may be shared) and, in the same run, for the baseline: a Python
`re` alternation per rule searched in every story. Nothing here is
asserted; the figures are for reading.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.engine import load_rules  # noqa: E402

EN_MODIFIERS = """facial biometric personal customer patient voter student employee passenger tenant
citizen user subscriber member driver student health medical financial location genetic
police border airport retail school city state federal private public mobile cloud
live remote mass covert automated real-time""".split()
EN_NOUNS = """recognition surveillance data records database information details passwords
identities scans scanning cameras footage profiles numbers addresses accounts files
fingerprints templates images photos logs histories tracking monitoring analytics
verification authentication matching identification watchlist""".split()
EN_CONTEXT = """police school landlord employer airport station stadium retailer hospital bank
hackers breach leaked exposed stolen scraped sold misconfigured ransom dark web
council court ban regulator fine lawsuit privacy rights activists""".split()
EN_FILLER = """the a of to in and for on with by at from as is was were be been has have had
said says new year government people company market report week today city country
minister officials plan policy public service system local national world percent
million billion business money growth budget economy election vote campaign team
game season match player coach weather storm rain water power energy oil gas price
school students teachers health hospital doctors police court law judge case trial
technology software app phone internet online users data privacy security network""".split()
ZH_A = list(
    "人脸声纹指纹虹膜步态生物面部车牌身份个人用户客户患者学生员工乘客住户公民会员手机位置健康医疗金融"
)
ZH_B = list("识别采集比对监控追踪验证信息数据资料记录隐私泄露倒卖售卖爬取曝光外泄黑客入侵")
ZH_FILLER = list(
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研质"
)
# context words of Chinese rules: words, as rule writers write them, not single characters
ZH_CONTEXT = [
    "泄露",
    "倒卖",
    "出售",
    "监控",
    "识别",
    "采集",
    "追踪",
    "曝光",
    "窃取",
    "黑客",
    "隐私",
    "数据",
    "信息",
    "摄像头",
    "警方",
    "学校",
    "小区",
    "房东",
    "公司",
    "平台",
    "用户",
    "客户",
]
ZH_TERMS_EXTRA = ["人脸识别", "个人信息", "数据泄露", "倒卖", "监控", "刷脸", "隐私", "生物识别"]


def phrase_pools(rng: random.Random) -> tuple[list[str], list[str]]:
    en = [f"{m} {n}" for m in EN_MODIFIERS for n in EN_NOUNS]
    zh = [
        a + b + c + d
        for a in ZH_A[:30]
        for b in ZH_A[30:] + ZH_A[:5]
        for c, d in [tuple(rng.sample(ZH_B, 2))]
    ]
    rng.shuffle(en)
    rng.shuffle(zh)
    return en, list(dict.fromkeys(zh + ZH_TERMS_EXTRA))


def make_rules(n: int, en: list[str], zh: list[str], rng: random.Random) -> dict:
    rules = []
    for i in range(n):
        chinese = i % 3 == 2
        pool = zh if chinese else en
        specific = rng.sample(pool, rng.randint(4, 10))
        if not chinese and rng.random() < 0.3:
            specific[0] = (
                specific[0].rsplit(" ", 1)[0] + " " + specific[0].rsplit(" ", 1)[1][:5] + "*"
            )
        context = rng.sample(ZH_CONTEXT if chinese else EN_CONTEXT, rng.randint(3, 6))
        roll = rng.random()
        if roll < 0.2:
            match = {"near": [specific, context], "within": 8}
        elif roll < 0.35:
            match = {"at_least": 2, "of": [specific[:3], specific[3:], context]}
        else:
            match = {"all": [specific, context, {"not": rng.sample(pool, 2)}]}
        rules.append(
            {
                "id": f"r{i}",
                "title": f"rule {i}",
                "fold_chinese": chinese and rng.random() < 0.5,
                "match": match,
            }
        )
    return {"rules": rules}


def make_story(rng: random.Random, en: list[str], zh: list[str], size: int = 3000) -> dict:
    chinese = rng.random() < 1 / 3
    parts: list[str] = []
    length = 0
    while length < size:
        roll = rng.random()
        if chinese:
            piece = (
                rng.choice(zh)
                if roll < 0.002
                else rng.choice(ZH_CONTEXT)
                if roll < 0.02
                else "".join(rng.choices(ZH_FILLER, k=rng.randint(2, 8)))
            )
            if roll > 0.9:
                piece += "，"
            length += len(piece.encode())
        else:
            piece = (
                rng.choice(en)
                if roll < 0.001
                else rng.choice(EN_CONTEXT)
                if roll < 0.01
                else rng.choice(EN_FILLER)
            )
            if roll > 0.93:
                piece += "."
            length += len(piece) + 1
        parts.append(piece)
    body = ("" if chinese else " ").join(parts)
    title = body[:40] if chinese else " ".join(parts[:10]).capitalize()
    return {"title": title, "summary": body[:300], "body": body}


def naive_rules(doc: dict) -> list[re.Pattern]:
    """One Python regex per rule: every literal term of the rule in one alternation."""
    out = []
    for rule in doc["rules"]:
        terms = sorted(set(_terms(rule["match"])), key=len, reverse=True)
        alternation = "|".join(re.escape(t.rstrip("*")) for t in terms)
        out.append(re.compile(rf"(?<!\w)(?:{alternation})", re.IGNORECASE))
    return out


def _terms(cond):
    if isinstance(cond, str):
        yield cond
    elif isinstance(cond, list):
        for c in cond:
            yield from _terms(c)
    elif isinstance(cond, dict):
        for key in ("any", "all", "not", "of", "near"):
            if key in cond:
                yield from _terms(cond[key])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stories", type=int, default=10_000)
    ap.add_argument("--naive-stories", type=int, default=500, help="stories for the slow baseline")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="engine passes per rule count; the fastest is reported (others share the machine)",
    )
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    en, zh = phrase_pools(rng)
    stories = [make_story(rng, en, zh) for _ in range(args.stories)]
    nbytes = sum(
        len(s["title"].encode()) + len(s["summary"].encode()) + len(s["body"].encode())
        for s in stories
    )
    print(
        f"{len(stories)} stories, {nbytes / 1e6:.1f} MB, mean {nbytes / len(stories) / 1e3:.1f} KB; "
        f"term pools: {len(en)} English phrases, {len(zh)} Chinese terms"
    )
    print(
        f"{'rules':>6} {'build s':>8} {'engine MB/s':>12} {'matches':>8} {'cost vs 10':>11} "
        f"{'naive MB/s':>11} {'engine/naive':>13}"
    )
    base_cost = None
    for n in (10, 100, 1000):
        doc = make_rules(n, en, zh, random.Random(n))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.yaml"
            path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            t0 = time.perf_counter()
            rs, problems = load_rules([path])
            build = time.perf_counter() - t0
        assert not problems, problems[:3]
        spent = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            matches = 0
            for s in stories:
                matches += len(rs.match_fields(s))
            spent = min(spent, time.perf_counter() - t0)
        cost = spent / len(stories)
        base_cost = base_cost or cost
        naive = naive_rules(doc)
        sample = stories[: args.naive_stories]
        sample_bytes = sum(
            len(s["title"].encode()) + len(s["summary"].encode()) + len(s["body"].encode())
            for s in sample
        )
        t0 = time.perf_counter()
        for s in sample:
            for field in ("title", "summary", "body"):
                text = s[field]
                for pattern in naive:
                    pattern.search(text)
        naive_spent = time.perf_counter() - t0
        engine_mbs = nbytes / spent / 1e6
        naive_mbs = sample_bytes / naive_spent / 1e6
        print(
            f"{n:>6} {build:>8.2f} {engine_mbs:>12.1f} {matches:>8} {cost / base_cost:>10.2f}x "
            f"{naive_mbs:>11.2f} {engine_mbs / naive_mbs:>12.1f}x"
        )
    print(
        f"engine: fastest of {args.repeat} passes over all stories, one core; naive: one re alternation "
        f"per rule searched in each field (term hits only, no boolean logic), one pass over the first "
        f"{args.naive_stories} stories"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
