"""A digest as one message: exact payload, escaped text, honest links, Discord's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.models import Article
from bot.render.digest import DIGEST_MIN_TITLE, build_digest, digest_fit, outlet
from bot.render.embeds import DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, FIELD_VALUE_LIMIT, Post

WHEN = datetime(2026, 12, 6, 9, 0, tzinfo=ZoneInfo("Europe/London"))
NONCE = "dg0123456789abcdef0123456"


def make(n: int, **changes: Any) -> Article:
    values: dict[str, Any] = {
        "id": f"id{n:06d}",
        "canonical_url": f"https://news.example.com/{n}",
        "url": f"https://www.news.example.com/{n}",
        "title": f"Story {n}",
        "topics": ("AI",),
    }
    values.update(changes)
    return Article(**values)


def links(text: str) -> list[str]:
    return re.findall(r"\]\((https?://[^)\s]+)\)", text)


def listed(post: Post) -> str:
    """The digest's lines: its description, then the fields that go on with it."""
    return "\n".join([post.card.description or "", *(f.value for f in post.card.fields)])


def test_a_digest_is_one_embed_of_numbered_linked_lines_exactly() -> None:
    post = build_digest(
        [make(1), make(2, topics=(), url="https://other.example.org/b")],
        nonce=NONCE,
        when=WHEN,
        mention_role=4242,
    )
    assert post.to_payload() == {
        "content": "<@&4242>",
        "embeds": [
            {
                "footer": {"text": f"2 stories · digest {NONCE}"},
                "flags": 0,
                "color": 0x5865F2,
                "timestamp": "2026-12-06T09:00:00+00:00",
                "type": "rich",
                "description": (
                    "1. [Story 1](https://www.news.example.com/1) — news.example.com · AI\n"
                    "2. [Story 2](https://other.example.org/b) — other.example.org"
                ),
                "title": "Top stories",
            }
        ],
        "components": [],
        "allowed_mentions": {"roles": [4242], "parse": []},
    }
    assert post.thread_name == "Top stories · 2026-12-06 09:00"
    assert post.article_id == NONCE
    assert post.card.to_dict() == post.embed.to_dict()  # as discord.py sends it


def test_feed_text_cannot_become_markup_or_a_link_elsewhere() -> None:
    story = make(
        1,
        title="**@everyone** <@&123456789012345678> [x](https://evil.example) ||s||",
        topics=("<#42> _AI_",),
    )
    masked = make(2, title="https://bbc.co.uk/news", url="https://evil.example/x")
    homograph = make(3, title="Paypal", url="https://pаypal.com/login")  # Cyrillic а
    script = make(4, title="Click", url="javascript:alert(1)")
    parens = make(5, title="ok", url="https://ok.example/x)[pwn](https://evil.example")
    post = build_digest([story, masked, homograph, script, parens], nonce=NONCE, when=WHEN)
    lines = (post.card.description or "").split("\n")
    assert lines == [
        # the title names evil.example and links elsewhere: the real host follows it
        "1. [\\*\\*@\u200beveryone\\*\\* \\<@\u200b&123456789012345678> \\[x\\]\\(https://evil.example\\)"
        " \\|\\|s\\|\\| \\(www.news.example.com\\)](https://www.news.example.com/1)"
        " — news.example.com · \\<#42> \\_AI\\_",
        "2. [https://bbc.co.uk/news \\(evil.example\\)](https://evil.example/x)"
        " — evil.example · AI",
        "3. [Paypal](https://pаypal.com/login) — xn--pypal-4ve.com · AI",
        "4. Click — AI",
        "5. [ok](https://ok.example/x%29[pwn]%28https://evil.example) — ok.example · AI",
    ]
    description = post.card.description or ""
    assert links(description) == [
        "https://www.news.example.com/1",
        "https://evil.example/x",
        "https://pаypal.com/login",
        "https://ok.example/x%29[pwn]%28https://evil.example",
    ]
    assert post.to_payload()["allowed_mentions"] == {"parse": []}
    assert post.content is None


def test_the_outlet_is_the_host_the_link_opens() -> None:
    assert outlet("https://WWW.BBC.co.uk/news") == "bbc.co.uk"
    assert outlet("https://bücher.example/x") == "xn--bcher-kva.example"
    assert outlet("not a url") is None
    assert outlet(None) is None


def test_25_long_stories_fit_discord_s_limits_each_linked_once() -> None:
    stories = [
        make(
            n,
            title=" ".join(["Headline"] * 60) + f" {n}",
            url=f"https://www.publisher-{n}.example.com/2026/12/06/" + "section-" * 10 + f"{n}",
            topics=("Machine Learning and Artificial Intelligence Research",),
        )
        for n in range(25)
    ]
    assert {len(s.url) for s in stories} == {128, 130}
    assert digest_fit(stories) == 25
    post = build_digest(stories, nonce=NONCE, when=WHEN)
    card = post.card
    description = card.description or ""
    assert len(description) <= DESCRIPTION_LIMIT
    assert 1 <= len(card.fields) <= 25
    assert all(len(f.value) <= FIELD_VALUE_LIMIT and f.name == "\u200b" for f in card.fields)
    assert len(card) <= EMBED_TOTAL_LIMIT
    listed = "\n".join([description, *(f.value for f in card.fields)])
    assert links(listed) == [s.url for s in stories]
    lines = listed.split("\n")
    assert len(lines) == 25
    for number, line in enumerate(lines):
        title = line.split("](", 1)[0].split(". [", 1)[1]
        assert len(title) >= DIGEST_MIN_TITLE, line
        assert line.startswith(f"{number + 1}. [Headline Headline")
        assert line.endswith(
            f" — publisher-{number}.example.com · Machine Learning and Artificial…"
        )


def test_a_digest_holds_the_stories_that_fit_and_shows_every_one_it_holds() -> None:
    long_url = "https://long.example/" + "a" * 400
    stories = [make(n, url=f"{long_url}/{n}", title="Title " * 30) for n in range(25)]
    fit = digest_fit(stories)
    assert fit == 12  # lines of 478-479 characters: 8 in the description, 2 in each of 2
    # fields (1,024 each); a 13th would pass 6,000 in all
    post = build_digest(stories[:fit], nonce=NONCE, when=WHEN)
    assert len(post.card.description or "") <= DESCRIPTION_LIMIT
    assert len(post.card) <= EMBED_TOTAL_LIMIT
    assert links(listed(post)) == [s.url for s in stories[:fit]]
    # given more than fit (stories edited since they were chosen), every one still shows:
    # the longest links give way, the titles stay
    crowded = build_digest(stories, nonce=NONCE, when=WHEN)
    lines = listed(crowded).split("\n")
    assert len(lines) == 25
    assert len(crowded.card.description or "") <= DESCRIPTION_LIMIT
    assert len(crowded.card) <= EMBED_TOTAL_LIMIT
    assert 0 < len(links(listed(crowded))) < 25
    assert all(line.startswith(f"{n}. ") for n, line in enumerate(lines, 1))
    assert all("Title" in line for line in lines)


def test_a_link_too_long_for_a_line_leaves_its_title() -> None:
    story = make(1, url="https://long.example/" + "a" * 600, title="Kept title")
    post = build_digest([story], nonce=NONCE, when=datetime(2026, 12, 6, 8, 0, tzinfo=UTC))
    assert post.card.description == "1. Kept title — long.example · AI"
    assert post.card.footer == f"1 story · digest {NONCE}"
