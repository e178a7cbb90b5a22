"""The embed builder: exact payloads for the seed, and Discord's limits for hostile input."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.ingest.parsing import parse_article
from bot.models import Article, Image, Provider, Related
from bot.render.embeds import (
    TITLE_LIMIT,
    allowed_mentions,
    allowed_mentions_payload,
    build_post,
    escape_controls,
    escape_markdown,
    escape_mentions,
    foreign_host,
    honest_text,
    link_text,
    summary_line,
    topic_colour,
    truncate,
)

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_32d180ee26e58c63.txt"
VERGE_URL = (
    "https://www.theverge.com/2020/6/8/21284683/"
    "ibm-no-longer-general-purpose-facial-recognition-analysis-software"
)
VERGE_AMP_URL = (
    "https://www.theverge.com/platform/amp/2020/6/8/21284683/"
    "ibm-no-longer-general-purpose-facial-recognition-analysis-software"
)
BAD_URLS = ("javascript:alert(1)", "ftp://files.example/x.png", "data:image/png;base64,AAAA")


@pytest.fixture(scope="module")
def seed() -> Article:
    return parse_article(SEED.read_bytes()).article


def make(**changes: Any) -> Article:
    values: dict[str, Any] = {
        "id": "hostile1",
        "canonical_url": "https://example.com/story",
        "url": "https://example.com/story",
        "title": "A story",
    }
    values.update(changes)
    return Article(**values)


def related(n: int, title: str = "Other", quality: int | None = None) -> Related:
    return Related(
        title=title,
        url=f"https://example.com/a/{n:02d}",
        provider=Provider("P"),
        quality=quality,
    )


# --------------------------------------------------------------------------- checkers


def _unescaped(markdown: str) -> str:
    """Markdown with every backslash escape replaced by an inert character."""
    return re.sub(r"\\.", "#", markdown, flags=re.DOTALL)


def links(markdown: str) -> list[str]:
    """The URLs of the live masked links ``[text](url)`` in ``markdown``."""
    return re.findall(r"\[[^\[\]]*\]\(([^()\s]*)\)", _unescaped(markdown))


def assert_links_complete(markdown: str) -> None:
    """Every ``](`` starts a whole ``(url)``: no link was cut in half."""
    text = _unescaped(markdown)
    for match in re.finditer(r"\]\(", text):
        assert re.match(r"\]\(https?://[^()\s]+\)", text[match.start() :]), text


def _urls(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("url", "icon_url", "proxy_url")]
        return found + [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return []


def assert_within_discord_limits(payload: dict[str, Any]) -> None:
    """Every limit from DISCORD-NOTES.md, checked on the JSON body itself."""
    assert len(payload.get("content") or "") <= 2000
    assert len(payload["embeds"]) <= 10
    total = 0
    for embed in payload["embeds"]:
        title = embed.get("title", "")
        description = embed.get("description", "")
        footer = embed.get("footer", {}).get("text", "")
        author = embed.get("author", {}).get("name", "")
        fields = embed.get("fields", [])
        assert len(title) <= 256
        assert len(description) <= 4096
        assert len(fields) <= 25
        for field in fields:
            assert 1 <= len(field["name"]) <= 256
            assert 1 <= len(field["value"]) <= 1024
            assert_links_complete(field["value"])
        assert len(footer) <= 2048
        assert len(author) <= 256
        total += len(title) + len(description) + len(footer) + len(author)
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
        markdown = [title, description, *(f["value"] for f in fields)]
        for url in [*_urls(embed), *(u for text in markdown for u in links(text))]:
            assert re.match(r"https?://[^\s/]+", url), url
    assert total <= 6000
    rows = payload["components"]
    assert len(rows) <= 5
    for row in rows:
        assert row["type"] == 1
        assert 1 <= len(row["components"]) <= 5
        for button in row["components"]:
            assert button["type"] == 2 and button["style"] == 5
            assert len(button["url"]) <= 512
            assert "custom_id" not in button
            assert 1 <= len(button["label"]) <= 80
            assert re.match(r"https?://[^\s/]+", button["url"]), button["url"]


# --------------------------------------------------------------------------- the seed


def test_seed_payload_exactly(seed: Article) -> None:
    post = build_post(seed)

    assert post.to_payload() == {
        "embeds": [
            {
                "type": "rich",
                "title": "IBM will no longer offer, develop, or research facial recognition "
                "technology",
                "url": VERGE_URL,
                "author": {
                    "name": "The Verge",
                    "url": "https://theverge.com",
                    "icon_url": "https://smartableai.github.io/artificial-intelligence/assets/"
                    "images/organizations/theverge.com-50x50.jpg",
                },
                "description": "IBM firmly opposes and will not condone uses of any "
                "\\[facial recognition\\] technology, including facial recognition technology "
                "offered by other vendors, for mass surveillance, racial profiling, violations "
                "of basic human rights and freedoms,",
                "image": {
                    "url": "https://cdn.vox-cdn.com/thumbor/NGef_YogvtoV899jj-XKnJ_tMws=/"
                    "0x0:2040x1360/1400x933/filters:focal(857x517:1183x843):no_upscale()/"
                    "cdn.vox-cdn.com/uploads/chorus_image/image/66910133/"
                    "acastro_180730_1777_facial_recognition_0001.0.jpg"
                },
                "timestamp": "2020-06-09T00:55:00+00:00",
                "footer": {"text": "Computer Vision · AI · id j80stkmk"},
                "color": topic_colour("Computer Vision"),
                "fields": [
                    {
                        "inline": False,
                        "name": "Related coverage",
                        "value": "[IBM stops work on facial recognition over human rights "
                        "concerns](https://www.engadget.com/"
                        "ibm-exits-facial-recognition-business-012915316.html) — Engadget\n"
                        "[IBM quits facial recognition business, opposing its use for mass "
                        "surveillance, racial profiling](https://www.straitstimes.com/world/"
                        "united-states/ibm-quits-facial-recognition-business-opposing-its-use-"
                        "for-mass-surveillance) — The Straits Times",
                    }
                ],
                "flags": 0,
            }
        ],
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 5, "label": "Read on The Verge", "url": VERGE_URL},
                    {"type": 2, "style": 5, "label": "AMP", "url": VERGE_AMP_URL},
                ],
            }
        ],
        "allowed_mentions": {"parse": []},
    }
    assert topic_colour("Computer Vision") == 0x9242D7
    assert post.content is None
    assert post.article_id == "j80stkmk"
    assert post.thread_name == (
        "IBM will no longer offer, develop, or research facial recognition technology"
    )
    assert_within_discord_limits(post.to_payload())


def test_seed_with_mention_role_pings_only_that_role(seed: Article) -> None:
    payload = build_post(seed, mention_role=42).to_payload()

    assert payload["content"] == "<@&42>"
    assert payload["allowed_mentions"] == {"roles": [42], "parse": []}


def test_topic_roles_ping_the_roles_of_the_storys_topics_and_no_other(seed: Article) -> None:
    # the seed's topics: Computer Vision, AI
    roles = (("space", 1), ("ai", 2), ("computer vision", 3))
    payload = build_post(seed, topic_roles=roles).to_payload()
    assert (payload["content"], payload["allowed_mentions"]) == (
        "<@&2> <@&3>",
        {"roles": [2, 3], "parse": []},
    )
    # with mention_role: that role first, each role once
    payload = build_post(seed, mention_role=3, topic_roles=roles).to_payload()
    assert (payload["content"], payload["allowed_mentions"]) == (
        "<@&3> <@&2>",
        {"roles": [3, 2], "parse": []},
    )
    payload = build_post(seed, topic_roles=(("space", 1),)).to_payload()
    assert ("content" in payload, payload["allowed_mentions"]) == (False, {"parse": []})
    post = build_post(seed, topic_roles=roles)
    assert dict(post.allowed_mentions.to_dict()) == {"roles": [2, 3], "parse": []}


def test_seed_colour_override_is_case_insensitive(seed: Article) -> None:
    post = build_post(seed, colours={"computer vision": 0xFF0000})

    assert post.to_payload()["embeds"][0]["color"] == 0xFF0000


def test_seed_summary_line(seed: Article) -> None:
    assert summary_line(seed) == (
        "`j80stkmk` [IBM will no longer offer, develop, or research facial recognition "
        f"technology]({VERGE_URL}) — The Verge · q86"
    )


def test_unknown_quality_shows_as_such_in_results_and_menus(seed: Article) -> None:
    from dataclasses import replace as with_fields

    from bot.render.replies import story_options

    unknown = with_fields(seed, quality=None)
    assert summary_line(unknown) == (
        "`j80stkmk` [IBM will no longer offer, develop, or research facial recognition "
        f"technology]({VERGE_URL}) — The Verge · quality unknown"
    )
    assert story_options([unknown])[0].description == "j80stkmk · The Verge · quality unknown"


# --------------------------------------------------------------------------- helpers


def test_allowed_mentions_payloads() -> None:
    assert dict(allowed_mentions().to_dict()) == {"parse": []}
    assert dict(allowed_mentions(7).to_dict()) == {"roles": [7], "parse": []}


def test_topic_colour_is_stable_and_overridable() -> None:
    assert topic_colour("AI") == 0xBAD742  # sha256-based: the same in every process
    assert topic_colour("ai") == topic_colour(" AI ") == 0xBAD742
    assert topic_colour("AI", {"ai": 0x123456}) == 0x123456
    # one topic however it is spelled: accents, Unicode form (models.topic_key)
    assert topic_colour("M\u00e9xico") == topic_colour("MEXICO") == topic_colour("Me\u0301xico")
    assert topic_colour("M\u00e9xico", {"mexico": 0x123456}) == 0x123456
    assert topic_colour("Robotics", {"ai": 0x123456}) != 0x123456
    assert topic_colour(None) == topic_colour("") == 0x5865F2


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("the quick brown fox", 12, "the quick…"),  # cut at the last space that fits
        ("abcdefghijklmnop", 10, "abcdefghi…"),  # one long word: cut inside it
        ("a " + "b" * 20, 10, "a bbbbbbb…"),  # a boundary keeping under half: cut inside
        ("exactly 11!", 11, "exactly 11!"),  # exactly the limit: unchanged
        ("short", 100, "short"),
        ("two words", 1, "…"),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit)) <= limit


def test_truncate_rejects_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        truncate("x", 0)


def test_link_text() -> None:
    assert link_text("x](https://evil) [y", 100) == "x\\]\\(https://evil\\) \\[y"
    assert link_text("[a](https://x.y)", 100) == "\\[a\\]\\(https://x.y\\)"
    assert link_text("**b** _i_ a\\", 100) == "\\*\\*b\\*\\* \\_i\\_ a\\\\"
    assert link_text("@everyone <@&123456789012345678>", 100) == (
        "@\u200beveryone \\<@\u200b&123456789012345678>"
    )
    assert link_text("line\nbreak", 100) == "line break"


# --------------------------------------------------------------------------- hostile input


def test_sixty_related_items_end_with_the_exact_number_left_out() -> None:
    article = make(
        title="T" * 100_000,
        related=tuple(related(n, "R" * 2048, quality=n) for n in range(60)),
    )
    post = build_post(article)
    payload = post.to_payload()
    assert_within_discord_limits(payload)
    fields = payload["embeds"][0]["fields"]

    # Each line is "[" + 256 title chars + "](https://example.com/a/NN) — P" = 288 chars, so
    # three fit in a field (866 chars). The budget is 6000 - 256 (title) - 11 (footer
    # "id hostile1") = 5733: six full fields (16 + 5 * 24 names + 18 lines = 5332), then
    # one more line in a seventh (5644); 60 - 19 = 41 are left out, and the tail
    # "\n…and 41 more" fits (5657 for the fields, 5924 for the whole embed).
    assert [f["name"] for f in fields] == ["Related coverage"] + ["Related coverage (cont.)"] * 6
    assert fields[-1]["value"].endswith("\n…and 41 more")
    shown = [url for f in fields for url in links(f["value"])]
    assert shown == [f"https://example.com/a/{n:02d}" for n in range(59, 40, -1)]  # best first
    assert len(post.embed) == 256 + 11 + 5657


def test_related_order_is_best_quality_first_and_stable_for_ties() -> None:
    items = (related(0, quality=10), related(1), related(2, quality=50), related(3, quality=10))
    value = build_post(make(related=items)).to_payload()["embeds"][0]["fields"][0]["value"]

    assert links(value) == [f"https://example.com/a/{n:02d}" for n in (2, 0, 3, 1)]


def test_related_above_100_orders_as_100_and_a_url_shows_once() -> None:
    twice = replace(related(4, "Forbes again", quality=99), url="https://EXAMPLE.com/a/00/")
    items = (related(0, quality=120), related(1, quality=100), related(2, quality=101), twice)
    value = build_post(make(related=items)).to_payload()["embeds"][0]["fields"][0]["value"]
    # 120, 100 and 101 all count as 100: file order; the second entry of a/00 is left out
    assert links(value) == [f"https://example.com/a/{n:02d}" for n in (0, 1, 2)]


def test_link_text_injection_cannot_create_a_link() -> None:
    evil = "x](https://evil.example) [y"
    article = make(title=evil, related=(related(1, evil), related(2, f"[{evil}](https://evil)")))
    payload = build_post(article).to_payload()
    embed = payload["embeds"][0]
    assert_within_discord_limits(payload)

    assert links(embed["fields"][0]["value"]) == [
        "https://example.com/a/01",
        "https://example.com/a/02",
    ]
    assert links(embed["title"]) == []
    assert links(summary_line(article)) == ["https://example.com/story"]


def test_unbalanced_parenthesis_in_a_related_url_cannot_forge_a_link() -> None:
    sneaky = Related(title="ok", url="https://ok.example/x)[pwn](https://evil.example")
    value = build_post(make(related=(sneaky,))).to_payload()["embeds"][0]["fields"][0]["value"]

    assert value == "[ok](https://ok.example/x%29[pwn]%28https://evil.example)"
    assert links(value) == ["https://ok.example/x%29[pwn]%28https://evil.example"]


def test_a_backslash_or_angle_bracket_in_a_related_url_keeps_the_link_whole() -> None:
    odd = (
        Related(title="Back", url="https://example.org/story\\"),
        Related(title="Angle", url="https://example.org/<b>"),
    )
    value = build_post(make(related=odd)).to_payload()["embeds"][0]["fields"][0]["value"]

    assert value == "[Back](https://example.org/story%5C)\n[Angle](https://example.org/%3Cb%3E)"
    assert links(value) == ["https://example.org/story%5C", "https://example.org/%3Cb%3E"]


def test_mentions_in_the_title_never_ping() -> None:
    article = make(title="@everyone <@&123456789012345678> <@1> @here")
    post = build_post(article)
    payload = post.to_payload()

    assert "content" not in payload
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload["embeds"][0]["title"] == (
        "@\u200beveryone \\<@\u200b&123456789012345678> \\<@1> @\u200bhere"
    )


@pytest.mark.parametrize("bad", BAD_URLS)
def test_non_http_urls_never_reach_the_payload(bad: str) -> None:
    article = make(
        url=bad,
        amp_url=bad,
        provider=Provider("Evil", domain="evil.example/path?x", images=(Image(bad),)),
        images=(Image(bad), Image("https://img.example/ok.png")),
        related=(Related(title="bad", url=bad), related(1)),
    )
    post = build_post(article)
    payload = post.to_payload()
    assert_within_discord_limits(payload)
    embed = payload["embeds"][0]

    assert bad.split(":")[0] + ":" not in json.dumps(payload)
    assert "url" not in embed
    assert embed["author"] == {"name": "Evil"}  # bad icon, domain that is not a host name
    assert embed["image"] == {"url": "https://img.example/ok.png"}
    assert payload["components"] == []
    assert links(embed["fields"][0]["value"]) == ["https://example.com/a/01"]
    assert summary_line(article) == "`hostile1` A story — Evil · q0"


def test_a_bare_article_has_no_author_image_or_topics() -> None:
    post = build_post(make(provider=Provider("   "), quality=3))
    payload = post.to_payload()

    assert payload == {
        "embeds": [
            {
                "type": "rich",
                "title": "A story",
                "url": "https://example.com/story",
                "footer": {"text": "id hostile1"},
                "color": 0x5865F2,
                "flags": 0,
            }
        ],
        "components": [
            {
                "type": 1,
                "components": [
                    {
                        "type": 2,
                        "style": 5,
                        "label": "Read article",
                        "url": "https://example.com/story",
                    }
                ],
            }
        ],
        "allowed_mentions": {"parse": []},
    }
    assert post.thread_name == "A story"
    assert summary_line(make(quality=3)) == "`hostile1` [A story](https://example.com/story) · q3"


def test_everything_hostile_at_once_stays_within_limits() -> None:
    title = "**@everyone** [x](https://evil) " * 4000  # about 128 KB
    article = make(
        id="i" * 300,
        title=title,
        excerpt="_<@&123456789012345678>_ (see [here](https://evil)) " * 2000,
        amp_url="https://example.com/amp",
        published_at=datetime(2024, 1, 2, 3, 4, 5),  # naive: taken as UTC
        provider=Provider("@here " * 400, domain="example.com"),
        topics=tuple(f"Topic{n} " + "t" * 90 for n in range(50)),
        images=(Image("data:image/png;base64,AAAA"),),
        related=tuple(
            related(n, "[a](https://evil) `x` @everyone " * 70, quality=n % 7) for n in range(60)
        ),
    )
    post = build_post(article, mention_role=5)
    payload = post.to_payload()
    assert_within_discord_limits(payload)
    embed = payload["embeds"][0]

    assert len(post.embed) <= 6000
    assert embed["timestamp"] == "2024-01-02T03:04:05+00:00"
    assert embed["footer"]["text"].endswith(" · id " + "i" * 300)
    assert embed["fields"][-1]["value"].splitlines()[-1].startswith("…and ")
    shown = sum(len(links(f["value"])) for f in embed["fields"])
    left_out = int(embed["fields"][-1]["value"].rsplit("…and ", 1)[1].split()[0])
    assert shown + left_out == 60
    assert "https://evil" not in [u for f in embed["fields"] for u in links(f["value"])]
    assert links(embed["description"]) == []
    assert [b["label"] for b in payload["components"][0]["components"]] == [
        truncate("Read on " + "@\u200bhere " * 399 + "@\u200bhere", 80),
        "AMP",
    ]
    assert payload["allowed_mentions"] == {"roles": [5], "parse": []}
    assert 1 <= len(post.thread_name) <= 100
    assert len(summary_line(article)) <= 1024
    assert_links_complete(summary_line(article))


def test_a_long_description_leaves_room_for_related_coverage() -> None:
    article = make(excerpt="word " * 5000, related=(related(1), related(2)))
    embed = build_post(article).to_payload()["embeds"][0]

    assert len(embed["description"]) <= 4096
    assert embed["fields"][0]["value"] == (
        "[Other](https://example.com/a/01) — P\n[Other](https://example.com/a/02) — P"
    )
    assert len(build_post(article).embed) <= 6000


def test_a_related_url_too_long_for_a_field_is_counted_as_left_out() -> None:
    long_item = Related(title="long", url="https://example.com/" + "a" * 1500)
    value = build_post(make(related=(long_item, related(1)))).to_payload()["embeds"][0]
    assert value["fields"][0]["value"] == "[Other](https://example.com/a/01) — P\n…and 1 more"


def test_a_url_too_long_for_a_button_stays_the_title_link_only() -> None:
    long_url = "https://example.com/" + "a" * 600
    amp = "https://amp.example.com/" + "b" * (512 - 24)
    payload = build_post(make(url=long_url, amp_url=amp)).to_payload()
    assert_within_discord_limits(payload)
    assert payload["embeds"][0]["url"] == long_url
    assert payload["components"] == [
        {"type": 1, "components": [{"type": 2, "style": 5, "label": "AMP", "url": amp}]}
    ]
    payload = build_post(make(url=long_url, amp_url=amp + "b")).to_payload()
    assert payload["components"] == []


def test_thread_name_is_never_empty() -> None:
    assert build_post(make(title="  ")).thread_name == "Article hostile1"
    assert len(build_post(make(title="w " * 200)).thread_name) == 100


# --------------------------------------------------------------------------- without discord.py

HOSTILE_TEXTS = (
    "",
    "plain words",
    "**b** _i_ ~~s~~ ||spoiler|| `code` a\\b",
    "> quote\n>>> block\n# h1\n## h2\n### h3\n#### h4\n - item\n-item",
    "[a](https://x.y) [b](<https://z>) https://u.example/a_b*c",
    "@everyone @here <@123456789012345678> <@!123456789012345678> <@&12345678901234567890>",
    "@123456789012345678 @!12345678901234567 @&1234567890123456 email@example.com",
    "multi\nline [x](y)\n   - indented\n>no space",
    "\\\\already\\*escaped\\_",
)


MARKDOWN_CHARACTERS = frozenset("_\\~|*`[]()<")


def _shown(escaped: str) -> str:
    """The characters Discord shows for ``escaped``; fails on a live markdown character."""
    shown, characters = [], iter(escaped)
    for character in characters:
        if character == "\\":
            shown.append(next(characters))  # an escape makes the next character plain
        else:
            assert character not in MARKDOWN_CHARACTERS, (character, escaped)
            shown.append(character)
    return "".join(shown)


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_the_escapes_are_discord_pys_but_leave_nothing_live_in_links(text: str) -> None:
    import discord

    assert escape_mentions(text) == discord.utils.escape_mentions(text)
    assert _shown(escape_markdown(text)) == text
    if not MARKDOWN_CHARACTERS.intersection("[]()<").intersection(text):
        assert escape_markdown(text) == discord.utils.escape_markdown(text, ignore_links=False)


@pytest.mark.parametrize("text", [t * 400 for t in HOSTILE_TEXTS if t and "@" not in t])
def test_a_long_link_text_is_escaped_only_as_far_as_it_is_shown(text: str) -> None:
    for limit in (1, 2, 3, 10, 99, 256, 1024):
        whole = truncate(escape_markdown(" ".join(text.split())), limit)
        if whole.endswith("…") and (len(whole[:-1]) - len(whole[:-1].rstrip("\\"))) % 2:
            whole = whole[:-2] + "…"
        assert link_text(text, limit) == whole
        assert _shown(link_text(text, limit).removesuffix("…")) in " ".join(text.split())


def test_discord_py_would_leave_formatting_live_inside_a_link_span() -> None:
    import discord

    text = "Big [news](today) ||SPOILER|| **bold** ~~gone~~ `code` (update)"
    assert discord.utils.escape_markdown(text, ignore_links=False) == (
        "Big \\[news](today) ||SPOILER|| **bold** ~~gone~~ `code` (update)"
    )
    assert escape_markdown(text) == (
        "Big \\[news\\]\\(today\\) \\|\\|SPOILER\\|\\| \\*\\*bold\\*\\*"
        " \\~\\~gone\\~\\~ \\`code\\` \\(update\\)"
    )


def parity_articles(seed: Article) -> list[Article]:
    return [
        seed,
        make(),
        make(title="  ", excerpt="", body="  "),
        make(
            title="**@everyone** [x](https://evil) " * 400,
            excerpt="_<@&123456789012345678>_ (see [here](https://evil)) " * 200,
            published_at=datetime(2024, 1, 2, 3, 4, 5),
            provider=Provider(
                "@here " * 80, domain="example.com", images=(Image("https://i.example/p"),)
            ),
            topics=("Robots", "AI"),
            images=(Image("ftp://x/y.png"), Image("https://example.com/i.png")),
            related=tuple(related(n, "[a](x) `y` " * 30, quality=n % 5) for n in range(40)),
        ),
        make(provider=Provider("P", domain="not a host"), related=(related(1),)),
        make(excerpt="word " * 5000, related=(related(1), related(2))),
    ]


def test_a_card_is_what_discord_embed_makes_of_it(seed: Article) -> None:
    for article in parity_articles(seed):
        for role in (None, 42):
            post = build_post(article, mention_role=role, colours={"robots": 0})
            embed = post.embed
            # the same JSON, keys in the same order (dry runs print it)
            assert list(post.card.to_dict().items()) == list(embed.to_dict().items())
            assert len(post.card) == len(embed)
            assert post.to_payload()["allowed_mentions"] == post.allowed_mentions.to_dict()
            assert allowed_mentions_payload(role) == allowed_mentions(role).to_dict()


# --------------------------------------------------------------------------- markup and hosts

MARKUP = (
    "<#123456789012345678> </queue post:123456789012345678> <t:0:R> "
    "<:name:123456789012345678> <a:name:123456789012345678> <@123456789012345678> "
    "<@&123456789012345678> <https://evil.example>"
)
# as the payload carries it: each "<" after a backslash, mentions broken by U+200B
MARKUP_ESCAPED = (
    "\\<#123456789012345678> \\</queue post:123456789012345678> \\<t:0:R> "
    "\\<:name:123456789012345678> \\<a:name:123456789012345678> \\<@\u200b123456789012345678> "
    "\\<@\u200b&123456789012345678> \\<https://evil.example>"
)


def test_escape_controls() -> None:
    unsafe = "".join(map(chr, range(0x20))) + "\x7f\x85\x9b\x9f"
    assert escape_controls(unsafe) == "".join(
        f"\\u{c:04x}" for c in (*range(0x20), 0x7F, 0x85, 0x9B, 0x9F)
    )
    bidi = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\udcff"
    assert escape_controls(bidi) == (
        "\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069\\u2028\\u2029\\udcff"
    )
    assert escape_controls("a\tb\nc\x1b", keep="\n") == "a\\u0009b\nc\\u001b"
    # printable text, the bidi marks (not overrides) and backslashes stay as they are
    same = "Zürich ‏مرحبا‎ \u061c 東京 \\u202e \\x1b"
    assert escape_controls(same) is same


def test_discord_markup_and_bidi_controls_in_article_text_render_literally() -> None:
    article = make(
        title=f"{MARKUP} \u202eevil",
        excerpt=f"{MARKUP}\n\u2067rtl\x1b[2J",
        provider=Provider("Prov <t:0:R> \u202e", domain="example.com"),
        topics=("Top\u202eic", "<t:0:R>"),
        related=(Related(title="<t:0:R> \u2066x", url="https://example.com/r"),),
    )
    assert build_post(article).to_payload() == {
        "embeds": [
            {
                "footer": {"text": "Top\\u202eic · <t:0:R> · id hostile1"},
                "author": {"name": "Prov <t:0:R> \\u202e", "url": "https://example.com"},
                "fields": [
                    {
                        "inline": False,
                        "name": "Related coverage",
                        "value": "[\\<t:0:R> \\\\u2066x](https://example.com/r)",
                    }
                ],
                "flags": 0,
                "color": topic_colour("Top\u202eic"),
                "type": "rich",
                "description": f"{MARKUP_ESCAPED}\n\\\\u2067rtl\\\\u001b\\[2J",
                "url": "https://example.com/story",
                "title": (
                    "\\<#123456789012345678> \\</queue post:123456789012345678> \\<t:0:R> "
                    "\\<:name:123456789012345678> \\<a:name:123456789012345678> "
                    "\\<@\u200b123456789012345678> \\<@\u200b&123456789012345678> "
                    "\\<https://evil.example> \\\\u202eevil \\(example.com\\)"
                ),
            }
        ],
        "components": [
            {
                "type": 1,
                "components": [
                    {
                        "type": 2,
                        "style": 5,
                        "label": "Read on Prov <t:0:R> \\u202e",
                        "url": "https://example.com/story",
                    }
                ],
            }
        ],
        "allowed_mentions": {"parse": []},
    }
    assert build_post(article).thread_name == truncate(
        "<#123456789012345678> </queue post:123456789012345678> <t:0:R> "
        "<:name:123456789012345678> <a:name:123456789012345678> <@\u200b123456789012345678> "
        "<@\u200b&123456789012345678> <https://evil.example> \\u202eevil",
        100,
    )
    assert summary_line(article) == (
        f"`hostile1` [{MARKUP_ESCAPED} \\\\u202eevil \\(example.com\\)]"
        "(https://example.com/story) — Prov \\<t:0:R> \\\\u202e · q0"
    )


def test_a_link_whose_text_names_another_host_shows_the_real_host() -> None:
    article = make(
        url="https://evil.example/story",
        title="https://bbc.co.uk/news",
        provider=Provider("bbc.co.uk", domain="evil.example"),
        related=(
            Related(title="https://bbc.co.uk/news", url="https://evil.example/r", quality=9),
            Related(title="More at bbc.co.uk", url="https://news.bbc.co.uk/r", quality=8),
            Related(title="bbс.co.uk", url="https://bbc.co.uk/r", quality=7),  # a Cyrillic с
            Related(title="", url="https://www.bbc.co.uk/r", quality=6),
        ),
    )
    payload = build_post(article).to_payload()
    embed = payload["embeds"][0]
    assert embed["title"] == "https://bbc.co.uk/news \\(evil.example\\)"
    assert embed["author"] == {"name": "bbc.co.uk (evil.example)", "url": "https://evil.example"}
    assert payload["components"][0]["components"][0]["label"] == "Read on bbc.co.uk (evil.example)"
    assert embed["fields"][0]["value"] == (
        "[https://bbc.co.uk/news \\(evil.example\\)](https://evil.example/r)\n"
        "[More at bbc.co.uk](https://news.bbc.co.uk/r)\n"
        "[bbс.co.uk \\(bbc.co.uk\\)](https://bbc.co.uk/r)\n"
        "[https://www.bbc.co.uk/r](https://www.bbc.co.uk/r)"
    )
    assert summary_line(article) == (
        "`hostile1` [https://bbc.co.uk/news \\(evil.example\\)](https://evil.example/story)"
        " — bbc.co.uk · q0"
    )


@pytest.mark.parametrize(
    ("text", "url", "host"),
    [
        ("https://bbc.co.uk/news", "https://evil.example/x", "evil.example"),
        ("read bbc.co.uk today", "https://evil.example/x", "evil.example"),
        ("bbc.co.uk.evil.example", "https://evil.example/x", "evil.example"),
        ("bbc。co。uk", "https://evil.example/x", "evil.example"),  # ideographic full stops
        ("news.bbc.co.uk", "https://bbc.co.uk/x", "bbc.co.uk"),
        ("see 10.0.0.1", "https://evil.example/x", "evil.example"),
        ("bbc.co.uk", "https://bücher.example/x", "xn--bcher-kva.example"),
        ("Node.js 20 is out", "https://nodejs.org/x", "nodejs.org"),  # looks like a domain
        ("bbc.co.uk", "https://news.bbc.co.uk/x", None),
        ("BBC.co.uk.", "https://www.bbc.co.uk/x", None),
        ("www.bbc.co.uk", "https://bbc.co.uk/x", None),
        ("bücher.example", "https://xn--bcher-kva.example/x", None),
        ("A plain title, v1.2, e.g. U.S. news", "https://evil.example/x", None),
        ("a@b", "https://evil.example/x", None),
    ],
)
def test_foreign_host(text: str, url: str, host: str | None) -> None:
    assert foreign_host(text, url) == host


def test_the_real_host_always_shows_whole() -> None:
    long = "bbc.co.uk " + "x" * 300
    title = build_post(make(url="https://evil.example/x", title=long)).card.title
    assert title == long[:238] + "… \\(evil.example\\)"
    assert len(title) == TITLE_LIMIT
    assert honest_text("bbc.co.uk news", "https://evil.example/x", 16, link_text) == (
        "\\(evil.example\\)"
    )


def test_replies_show_markup_and_bidi_controls_literally() -> None:
    from bot.desk.moderation import Record, Result
    from bot.desk.stories import SearchResults
    from bot.render.replies import (
        article_choice_name,
        mod_log_line,
        no_results,
        result_pages,
        story_options,
    )

    article = make(title="<t:0:R> \u202eevil", provider=Provider("P\u2066"))
    page = result_pages(SearchResults("AI\u202e", "", (article,), 1), {})[0]
    assert page.embed.title == "Stories about AI\\\\u202e"
    assert page.embed.description == (
        "1. `hostile1` [\\<t:0:R> \\\\u202eevil](https://example.com/story) — P\\\\u2066 · q0"
    )
    option = story_options([article])[0]
    assert (option.label, option.description) == (
        "<t:0:R> \\u202eevil",
        "hostile1 · P\\u2066 · quality 0",
    )
    assert article_choice_name(article.id, article.title) == "hostile1 · <t:0:R> \\u202eevil"
    assert no_results(SearchResults("AI\u202e", "x\u2066", (), 0)) == (
        "No story about `AI\\u202e` matches `x\\u2066`."
    )
    record = Record(
        "queue.submit", Result.OK, 7, "mod\u202e<t:0:R>", 42, "hostile1", "<#1> \u2066", True
    )
    assert mod_log_line(record) == (
        "**mod\\\\u202e\\<t:0:R>** (<@7>) used `/queue submit` in <#42> on `hostile1`: "
        "\\<#1> \\\\u2066"
    )


def test_why_keeps_its_review_channel_link_live_and_feed_markup_literal() -> None:
    from bot.config.settings import Route, Schedule
    from bot.desk.moderation import Explained
    from bot.render.replies import why_embed

    route = Route(7, "reviewed", Schedule(cron="0 9 * * *"), approval=True, review_channel=201)
    reasons = ("its topic <#999> is excluded", "posted only once approved in <#201>")
    embed = why_embed(Explained(make(title="<t:0:R>"), route, reasons))
    assert embed.description == (
        "`hostile1` [\\<t:0:R>](https://example.com/story) · q0\n\n"
        "• its topic \\<#999> is excluded\n"
        "• posted only once approved in <#201>"
    )
