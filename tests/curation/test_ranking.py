"""The ranking queue: the store's next_for_channel, and the pure rules it must agree with."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config.settings import Route, Schedule
from bot.curation.ranking import explain, filter_reasons, rank, route_filter
from bot.models import Article, ParseResult, Provider, topic_key
from bot.store import Delivery, DeliveryState, RouteFilter, RouteState, SQLiteStore

MakeArticle = Callable[..., Article]
CHANNEL = 100
NOW = datetime(2020, 6, 20, 12, 0, tzinfo=UTC)


async def add(store: SQLiteStore, *articles: Article) -> None:
    for article in articles:
        await store.add_article(ParseResult(article))


async def queue(store: SQLiteStore, flt: RouteFilter, limit: int = 100) -> list[str]:
    return [item.article.id for item in await store.next_for_channel(flt, limit)]


def day(n: int) -> datetime:
    return datetime(2020, 6, n, 12, 0, tzinfo=UTC)


def route(**fields: Any) -> Route:
    return Route(id=CHANNEL, name="news", schedule=Schedule(cron="0 9 * * *"), **fields)


# --------------------------------------------------------------------------- order


async def test_pins_first_then_quality_heat_time_id(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    def story(slug: str, **fields: object) -> Article:
        # titles of their own: alike titles published within 72 h are one event
        return make_article(url=f"https://example.com/{slug}", title=f"Story {slug}", **fields)

    pin_low = story("pin-low", quality=1)
    pin_top = story("pin-top", quality=99)
    best = story("best", quality=90)
    hot = story("hot", quality=80, heat=5)
    newer = story("newer", quality=80, heat=1, published_at=day(10))
    older = story("older", quality=80, heat=1, published_at=day(1))
    unknown = story("unknown", quality=80, heat=1, published_at=None)
    twins = sorted(
        (story(f"twin-{n}", quality=70, published_at=day(5)) for n in range(3)),
        key=lambda a: a.id,
    )
    await add(store, *twins, unknown, older, newer, hot, best, pin_top, pin_low)
    await store.pin(CHANNEL, pin_low.id, None, None)
    await store.pin(CHANNEL, pin_top.id, None, None)

    items = await store.next_for_channel(RouteFilter(CHANNEL), 20)

    assert [(i.article.id, i.pinned, i.position) for i in items] == [
        (pin_low.id, True, 1),
        (pin_top.id, True, 2),
        *((a.id, False, None) for a in (best, hot, newer, older, unknown, *twins)),
    ]
    assert await queue(store, RouteFilter(CHANNEL), 1) == [pin_low.id]
    assert await queue(store, RouteFilter(CHANNEL), 3) == [pin_low.id, pin_top.id, best.id]
    # pins belong to their channel
    assert await queue(store, RouteFilter(CHANNEL + 1), 2) == [pin_top.id, best.id]


async def test_the_queue_returns_whole_articles(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    article = make_article(topics=("AI", "Computer Vision"), published_at=day(3), heat=4)
    await add(store, article)
    [item] = await store.next_for_channel(RouteFilter(CHANNEL), 5)
    assert item.article == article


# --------------------------------------------------------------------------- filters


@pytest.fixture
async def topical(store: SQLiteStore, make_article: MakeArticle) -> dict[str, str]:
    stories = {
        "ai": make_article(url="https://example.com/ai", topics=("ai",), quality=40),
        "vision": make_article(
            url="https://example.com/vision", topics=("computer vision",), quality=60
        ),
        "ai-space": make_article(
            url="https://example.com/ai-space", topics=("AI", "SPACE"), quality=80
        ),
        "robots": make_article(url="https://example.com/robots", topics=("Robots",), quality=70),
        "none": make_article(url="https://example.com/none", quality=50),
        "mexico": make_article(url="https://example.com/mx", topics=("M\u00e9xico",), quality=45),
    }
    await add(store, *stories.values())
    return {slug: a.id for slug, a in stories.items()}


def slugs(ids: dict[str, str], queued: list[str]) -> list[str]:
    by_id = {ident: slug for slug, ident in ids.items()}
    return [by_id[i] for i in queued]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ["ai-space", "robots", "vision", "none", "mexico", "ai"]),
        ({"topics": ("AI", "Computer VISION")}, ["ai-space", "vision", "ai"]),
        ({"exclude_topics": ("space",)}, ["robots", "vision", "none", "mexico", "ai"]),
        ({"topics": ("Mexico",)}, ["mexico"]),  # accents or not, one topic
        ({"topics": ("ME\u0301XICO",), "min_quality": 50}, []),  # é as e + accent
        ({"exclude_topics": ("mexico", "space")}, ["robots", "vision", "none", "ai"]),
        ({"topics": ("Ai",), "exclude_topics": ("Space",)}, ["ai"]),
        ({"min_quality": 60}, ["ai-space", "robots", "vision"]),
        ({"min_quality": 100}, []),
        ({"topics": ("nothing",)}, []),
    ],
)
async def test_channel_filters(
    store: SQLiteStore, topical: dict[str, str], fields: dict[str, Any], expected: list[str]
) -> None:
    flt = route_filter(route(**fields), NOW)
    assert slugs(topical, await queue(store, flt)) == expected


async def test_max_age_days(store: SQLiteStore, make_article: MakeArticle) -> None:
    old = make_article(
        url="https://example.com/old", title="Old news", published_at=NOW - timedelta(days=8)
    )
    recent = make_article(
        url="https://example.com/recent", title="Recent", published_at=NOW - timedelta(days=6)
    )
    undated = make_article(url="https://example.com/undated", published_at=None)
    await add(store, old, recent, undated)

    flt = route_filter(route(max_age_days=7), NOW)
    assert flt.min_published_ts == int((NOW - timedelta(days=7)).timestamp())
    # an undated story counts from when the store first saw it: now, after NOW
    assert await queue(store, flt) == [recent.id, undated.id]
    assert await queue(store, route_filter(route(), NOW)) == [recent.id, old.id, undated.id]


async def test_published_elsewhere_is_stored_but_never_queued(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    done = make_article(url="https://example.com/done", title="Already out", published=True)
    await add(store, done)
    assert await store.get_article(done.id) == done
    assert await queue(store, RouteFilter(CHANNEL)) == []


@pytest.mark.parametrize(
    ("state", "queued"),
    [
        (DeliveryState.PENDING, True),
        (DeliveryState.SENDING, True),
        (DeliveryState.APPROVED, True),
        (DeliveryState.REVIEW, False),
        (DeliveryState.SENT, False),
        (DeliveryState.SKIPPED, False),
        (DeliveryState.FAILED, False),
    ],
)
async def test_delivery_states_and_the_queue(
    store: SQLiteStore, make_article: MakeArticle, state: DeliveryState, queued: bool
) -> None:
    article = make_article(quality=90)
    pinned = make_article(url="https://example.com/pinned", quality=10)
    await add(store, article, pinned)
    await store.pin(CHANNEL, pinned.id, None, None)
    await store.set_delivery(article.id, CHANNEL, state)
    await store.set_delivery(pinned.id, CHANNEL, state)

    expected = [pinned.id, article.id] if queued else []
    assert await queue(store, RouteFilter(CHANNEL)) == expected
    # another channel is not affected
    assert await queue(store, RouteFilter(CHANNEL + 1)) == [article.id, pinned.id]


# --------------------------------------------------------------------------- store == pure rules


FIRST_SEEN = datetime(2020, 6, 12, tzinfo=UTC)
TITLE_CHOICES = [
    "Crypto rally", "A crypto-currency boom", "Cryptography news", "The central bank acts",
    "Central banks meet", "Caf\u00e9 opens", "CAFES close", "Save the coral reef",
    "Coral reefs bleach", "", "Plain news",
]  # fmt: skip
TOPIC_CHOICES = ["AI", "ai", "Robots", "SPACE", "Computer Vision", "M\u00e9xico", "Mexico"]


def random_articles(make_article: MakeArticle, count: int, seed: int) -> list[Article]:
    rng = random.Random(seed)
    articles = []
    for n in range(count):
        published_at = None
        if rng.random() < 0.8:
            published_at = datetime(2020, 6, 1, tzinfo=UTC) + timedelta(
                days=rng.randint(0, 15),
                seconds=rng.choice([0, 0, 1]),
                microseconds=rng.choice([0, 250_000, 750_000]),
            )
        topics = {topic_key(t): t for t in rng.sample(TOPIC_CHOICES, rng.randint(0, 2))}
        domain = rng.choice([None, "bbc.co.uk", "news.bbc.co.uk", "notbbc.co.uk"])
        articles.append(
            make_article(
                url=f"https://{rng.choice(['example.com', 'www.example.org'])}/generated/{n}",
                # a number of its own: one event each (numbers that differ never merge)
                title=f"{rng.choice(TITLE_CHOICES)} {n}",
                excerpt=rng.choice(TITLE_CHOICES),
                provider=Provider(domain or "Wire", domain),
                quality=rng.choice([0, 10, 50, 50, 80, 80, 100, None]),
                heat=rng.choice([-1, 0, 0, 3]),
                published_at=published_at,
                topics=tuple(topics.values()),
                published=rng.random() < 0.1,
            )
        )
    return articles


FILTERS = [
    RouteFilter(CHANNEL),
    RouteFilter(CHANNEL, include_published=True),
    RouteFilter(CHANNEL, exclude_words=("crypto", "Central Bank")),
    RouteFilter(CHANNEL, include_words=("CAFE", "coral reef"), min_quality=50),
    RouteFilter(CHANNEL, providers=("bbc.co.uk",), include_published=True),
    RouteFilter(CHANNEL, exclude_providers=("example.org", "news.bbc.co.uk")),
    RouteFilter(CHANNEL, topics=("ai",)),
    RouteFilter(CHANNEL, exclude_topics=("space",)),
    RouteFilter(CHANNEL, min_quality=50),
    RouteFilter(CHANNEL, min_quality=60),  # unknown quality passes
    RouteFilter(CHANNEL, min_quality=10, require_quality=True),  # but not here
    RouteFilter(CHANNEL, topics=("mexico",)),  # "México" and "Mexico" alike
    RouteFilter(CHANNEL, exclude_topics=("mexico", "robots")),
    RouteFilter(CHANNEL, topics=("ai", "robots"), exclude_topics=("space",), min_quality=80),
    RouteFilter(CHANNEL, min_published_ts=int(datetime(2020, 6, 10, tzinfo=UTC).timestamp())),
    RouteFilter(CHANNEL, min_published_ts=int(datetime(2020, 6, 14, tzinfo=UTC).timestamp())),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_store_order_matches_the_pure_rules(
    store: SQLiteStore,
    make_article: MakeArticle,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    monkeypatch.setattr("bot.store.sqlite.loading._now", lambda: int(FIRST_SEEN.timestamp()))
    articles = random_articles(make_article, 200, seed)
    await add(store, *random.Random(seed).sample(articles, len(articles)))
    first_seen = int(FIRST_SEEN.timestamp())

    for flt in FILTERS:
        expected = [a.id for a in rank(articles) if not filter_reasons(a, flt, first_seen)]
        assert await queue(store, flt, limit=1000) == expected, flt
        assert len(expected) > 5, flt  # every filter leaves something to order


@pytest.mark.parametrize("seed", [1, 2])
async def test_store_keeps_submitted_stories_to_their_channels_as_the_pure_rules(
    store: SQLiteStore,
    make_article: MakeArticle,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    monkeypatch.setattr("bot.store.sqlite.loading._now", lambda: int(FIRST_SEEN.timestamp()))
    other = CHANNEL + 1
    scopes = [None, None, frozenset(), frozenset({CHANNEL}), frozenset({other, CHANNEL + 2})]
    rng = random.Random(seed)
    articles = random_articles(make_article, 200, seed)
    submitted_for: dict[str, frozenset[int] | None] = {}
    for article in rng.sample(articles, len(articles)):
        submitted_for[article.id] = rng.choice(scopes)
        _, new = await store.add_article(ParseResult(article), submitted_for[article.id])
        assert new
    first_seen = int(FIRST_SEEN.timestamp())
    for flt in FILTERS:
        for channel in (CHANNEL, other):
            here = replace(flt, channel_id=channel)
            expected = [
                a.id
                for a in rank(articles)
                if not filter_reasons(a, here, first_seen, submitted_for[a.id])
            ]
            assert await queue(store, here, limit=1000) == expected, here
            review = await store.review_candidates(here, 1000)
            assert [a.id for a in review] == expected, here


def test_filter_reasons_name_the_channels_a_story_was_submitted_for(
    make_article: MakeArticle,
) -> None:
    article = make_article(topics=("AI",), quality=50, published_at=day(10))
    assert filter_reasons(article, STRICT, None, frozenset({CHANNEL})) == []
    assert filter_reasons(article, STRICT, None, frozenset({7, 5})) == [
        "a moderator submitted it for other channels only (<#5>, <#7>)"
    ]
    assert explain(article, STRICT, None, OPEN, None, None, frozenset()) == [
        "a moderator submitted it, and no channel's queue ranks it (a pin posts it)"
    ]


def test_rank_ties_break_by_id(make_article: MakeArticle) -> None:
    same = [make_article(url=f"https://example.com/{n}", published_at=day(1)) for n in range(5)]
    assert [a.id for a in rank(same)] == sorted(a.id for a in same)


def test_rank_counts_times_in_whole_seconds(make_article: MakeArticle) -> None:
    # the store keeps whole seconds: two stories within one second tie, and the id decides
    first, second = sorted(
        (make_article(url=f"https://example.com/{n}") for n in "xy"), key=lambda a: a.id
    )
    first = replace(first, published_at=day(1))
    second = replace(second, published_at=day(1) + timedelta(seconds=0.5))
    assert rank([second, first]) == [first, second]


# --------------------------------------------------------------------------- explain


def delivery(state: DeliveryState, attempts: int = 1, **fields: object) -> Delivery:
    values: dict[str, Any] = {
        "article_id": "art1",
        "channel_id": CHANNEL,
        "state": state,
        "attempts": attempts,
        "nonce": "nd0",
        "message_id": None,
        "review_message_id": None,
        "decided_by": None,
        "last_error": None,
        "created_ts": 0,
        "updated_ts": 0,
        "sent_ts": None,
    }
    values.update(fields)
    return Delivery(**values)


OPEN = RouteState(CHANNEL)


@pytest.mark.parametrize(
    ("given", "position", "expected"),
    [
        (None, 2, ["it is number 2 in the channel's queue"]),
        (None, None, ["it is eligible but other stories rank above it"]),
        (delivery(DeliveryState.PENDING), 1, ["it is number 1 in the channel's queue"]),
        (
            delivery(DeliveryState.SENT, message_id=555),
            None,
            ["it was already posted there (message 555)"],
        ),
        (
            delivery(DeliveryState.SKIPPED, last_error="off-topic"),
            None,
            ["a moderator skipped it for this channel: off-topic"],
        ),
        (delivery(DeliveryState.SKIPPED), None, ["a moderator skipped it for this channel"]),
        (
            delivery(DeliveryState.FAILED, attempts=3, last_error="403 Missing Access"),
            None,
            ["sending failed after 3 attempt(s): 403 Missing Access"],
        ),
        (
            delivery(DeliveryState.FAILED),
            None,
            ["sending failed after 1 attempt(s): unknown error"],
        ),
        (delivery(DeliveryState.REVIEW), None, ["it is waiting for a moderator's approval"]),
        (delivery(DeliveryState.SENDING), None, ["it is being sent right now"]),
        (
            delivery(DeliveryState.APPROVED),
            1,
            ["it was approved and waits for the next scheduled post"],
        ),
    ],
)
def test_explain_for_each_delivery_state(
    make_article: MakeArticle, given: Delivery | None, position: int | None, expected: list[str]
) -> None:
    article = make_article()
    assert explain(article, RouteFilter(CHANNEL), given, OPEN, position) == expected


def test_explain_a_paused_and_disabled_channel(make_article: MakeArticle) -> None:
    state = RouteState(CHANNEL, paused=True, disabled=True, disabled_reason="403 Missing Access")
    assert explain(make_article(), RouteFilter(CHANNEL), None, state, 1) == [
        "the channel's route is disabled: 403 Missing Access",
        "the channel is paused: by a moderator",
    ]
    state = RouteState(CHANNEL, paused=True, pause_reason="holiday")
    assert explain(make_article(), RouteFilter(CHANNEL), None, state, 1) == [
        "the channel is paused: holiday"
    ]


STRICT = RouteFilter(
    CHANNEL,
    topics=("ai",),
    exclude_topics=("space",),
    min_quality=50,
    min_published_ts=int(day(10).timestamp()),
)


def test_explain_every_filter_reason(make_article: MakeArticle) -> None:
    article = make_article(
        published=True, topics=("Robots", "Space"), quality=10, published_at=day(9)
    )
    assert explain(article, STRICT, None, OPEN, None) == [
        "it was already published elsewhere (published: true in its file)",
        "none of its topics (Robots, Space) is one of the channel's (ai)",
        "its topic Space is excluded in this channel",
        "its quality 10 is below the channel's minimum 50",
        "it is older than the channel's max_age_days",
    ]
    # a done delivery is the whole answer; the filters no longer matter
    assert explain(article, STRICT, delivery(DeliveryState.SENT, message_id=9), OPEN, None) == [
        "it was already posted there (message 9)"
    ]


@pytest.mark.parametrize(
    ("fields", "first_seen", "expected"),
    [
        ({"topics": ("AI",), "quality": 50, "published_at": day(10)}, None, []),
        ({"topics": ()}, None, ["none of its topics (none) is one of the channel's (ai)"]),
        (
            {"topics": ("ai", "SPACE")},
            None,
            ["its topic SPACE is excluded in this channel"],
        ),
        ({"published_at": None}, None, []),
        (
            {"published_at": None},
            int(day(9).timestamp()),
            ["it is older than the channel's max_age_days"],
        ),
        ({"published_at": None}, int(day(10).timestamp()), []),
        (
            {"published_at": day(10) - timedelta(seconds=0.5)},
            None,
            ["it is older than the channel's max_age_days"],
        ),
    ],
)
def test_filter_reasons(
    make_article: MakeArticle, fields: dict[str, Any], first_seen: int | None, expected: list[str]
) -> None:
    values = {"topics": ("AI",), "quality": 50, "published_at": day(10)} | fields
    assert filter_reasons(make_article(**values), STRICT, first_seen) == expected


# --------------------------------------------------------------------------- words, providers


def test_word_filters_take_whole_words_and_phrases_in_any_case_and_accents(
    make_article: MakeArticle,
) -> None:
    exclude = RouteFilter(CHANNEL, exclude_words=("crypto", "Central Bank"))
    include = RouteFilter(CHANNEL, include_words=("cafe", "AI"))

    def screened(flt: RouteFilter, title: str, excerpt: str = "") -> str | None:
        return flt.screen(make_article(title=title, excerpt=excerpt))

    assert screened(exclude, "CRYPTO rally") == 'excluded by exclude_words: "crypto"'
    assert screened(exclude, "A crypto-currency boom") == 'excluded by exclude_words: "crypto"'
    assert screened(exclude, "Markets", "the central  bank's move and crypto") == (
        'excluded by exclude_words: "crypto", "Central Bank"'
    )
    assert screened(exclude, "Cryptography news") is None  # a whole word only
    assert screened(exclude, "Central banks meet") is None  # the phrase as written
    assert screened(exclude, "Central", "bank") is None  # not across title and excerpt
    assert screened(include, "Le Caf\u00e9 ouvre") is None  # accents folded
    assert screened(include, "Ai wins") is None
    assert screened(include, "Aid arrives") == (
        'excluded by include_words: none of "cafe", "AI" is in its title or excerpt'
    )


def test_provider_filters_take_a_domain_and_its_subdomains(make_article: MakeArticle) -> None:
    only = RouteFilter(CHANNEL, providers=("bbc.co.uk",))
    never = RouteFilter(CHANNEL, exclude_providers=("sport.bbc.co.uk",))

    def story(url: str, domain: str | None = None) -> Article:
        return make_article(url=url, provider=Provider("P", domain) if domain else None)

    assert only.screen(story("https://www.bbc.co.uk/news/1")) is None
    assert only.screen(story("https://feeds.example/1", "news.bbc.co.uk")) is None
    assert only.screen(story("https://notbbc.co.uk/1")) == (
        'excluded by providers: it comes from notbbc.co.uk, not "bbc.co.uk"'
    )
    assert only.screen(story("https://x.example/1", "y.example")) == (
        'excluded by providers: it comes from x.example, y.example, not "bbc.co.uk"'
    )
    assert never.screen(story("https://sport.bbc.co.uk/f1")) == (
        'excluded by exclude_providers: "sport.bbc.co.uk"'
    )
    assert never.screen(story("https://live.sport.bbc.co.uk/f1")) == (
        'excluded by exclude_providers: "sport.bbc.co.uk"'
    )
    assert never.screen(story("https://www.bbc.co.uk/news")) is None


async def test_a_route_with_include_published_takes_published_stories_in_rank_order(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    editors = make_article(url="https://example.com/picked", quality=82, published=True)
    plain = make_article(url="https://example.com/plain", quality=39)
    await add(store, plain, editors)
    assert await queue(store, route_filter(route(), NOW)) == [plain.id]
    assert await queue(store, route_filter(route(include_published=True), NOW)) == [
        editors.id,
        plain.id,
    ]
    assert filter_reasons(editors, route_filter(route(include_published=True), NOW)) == []


async def test_word_filters_in_the_queue_its_length_and_why(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    crypto = make_article(url="https://example.com/c", title="Crypto winter", quality=90)
    chips = make_article(url="https://example.com/chips", title="Chips ahead", quality=80)
    await add(store, crypto, chips)
    flt = route_filter(route(exclude_words=("crypto",)), NOW)
    assert await queue(store, flt) == [chips.id]
    assert await store.queue_length(flt, 10) == 1
    assert await store.review_candidates(flt, 10) == [chips]
    assert explain(crypto, flt, None, OPEN, None) == ['excluded by exclude_words: "crypto"']


# --------------------------------------------------------------------------- unknown quality


async def test_unknown_quality_ranks_as_configured_and_passes_min_quality_unless_required(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    def story(slug: str, quality: int | None) -> Article:
        return make_article(url=f"https://example.com/{slug}", title=f"Reef {slug}",
                            quality=quality, topics=("Oceans",))  # fmt: skip

    high, mid, low, unknown = (
        story("high", 60),
        story("mid", 50),
        story("low", 40),
        story("u", None),
    )
    await add(store, low, unknown, mid, high)
    everything = RouteFilter(CHANNEL)
    # as 50 by default: after the 60, tied with the 50 (same heat and time: by id)
    by_50 = [a.id for a in rank([high, mid, low, unknown])]
    assert by_50 == [high.id, *sorted((mid.id, unknown.id)), low.id]
    assert await queue(store, everything) == by_50
    assert rank([high, mid, low, unknown], 70)[0] == unknown

    assert await store.rank_unknown_quality(70) == 1
    assert await store.rank_unknown_quality(70) == 0  # already so
    assert await queue(store, everything) == [unknown.id, high.id, mid.id, low.id]
    assert [a.id for a in (await store.search("reef", "oceans"))[0]] == [
        unknown.id, high.id, mid.id, low.id
    ]  # fmt: skip
    assert [a.id for a in (await store.search("", "oceans"))[0]] == [
        unknown.id, high.id, mid.id, low.id
    ]  # fmt: skip
    assert await store.rank_unknown_quality(10) == 1
    assert await queue(store, everything) == [high.id, mid.id, low.id, unknown.id]
    assert [a.id for a in (await store.search("reef"))[0]] == [high.id, mid.id, low.id, unknown.id]

    above = RouteFilter(CHANNEL, min_quality=55)  # above unknown_quality: read in two parts
    assert await queue(store, above) == [high.id, unknown.id]
    assert await queue(store, above, 1) == [high.id]
    assert await store.queue_length(above, 10) == 2
    assert await store.queue_length(above, 1) == 1
    assert await store.review_candidates(above, 10) == [high, unknown]
    words = replace(above, include_words=("reef",))  # the same, a page at a time
    assert await queue(store, words) == [high.id, unknown.id]
    assert await store.queue_length(words, 10) == 2
    required = RouteFilter(CHANNEL, min_quality=0, require_quality=True)
    assert await queue(store, required) == [high.id, mid.id, low.id]
    assert filter_reasons(unknown, required) == [
        "its quality is unknown, and the channel sets require_quality"
    ]
    assert filter_reasons(unknown, RouteFilter(CHANNEL, min_quality=100)) == []
    # the story itself says unknown
    assert (await store.get_article(unknown.id)) == unknown
