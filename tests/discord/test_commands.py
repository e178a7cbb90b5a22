"""The slash commands' callbacks with strict Discord fakes and a real store: the exact reply
(embed, ephemeral flag, allowed mentions, components) and the exact store change."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.config.settings import Route
from bot.discord.cogs.queue import Queue
from bot.discord.cogs.stories import Stories
from bot.discord.cogs.views import Pages
from bot.discord.ui import ReviewButton
from bot.models import Article
from bot.render.embeds import build_post, summary_line, topic_colour
from bot.store import DeliveryState, RouteState, SQLiteStore, open_store
from tests import command_fakes as fx
from tests.fake_discord import FakeDiscord

SORRY = "Something went wrong; the moderators can find details in the bot's log."
SPACE_COLOUR = topic_colour("Space")
AI_COLOUR = 0x5865F2  # configured in fx.settings()


@pytest.fixture
async def store() -> AsyncIterator[SQLiteStore]:
    db = await open_store(":memory:")
    yield db  # type: ignore[misc]
    await db.close()


@pytest.fixture
async def ai(store: SQLiteStore) -> list[Article]:
    return await fx.add_stories(
        store,
        fx.story(
            "ibm",
            "IBM will no longer offer facial recognition software",
            quality=90,
            topics=["AI", "Computer Vision"],
            excerpt="IBM leaves the business of general-purpose facial recognition.",
            provider="The Verge",
        ),
        fx.story("model", "A new language model", quality=80),
        fx.story("chips", "Chip makers race ahead", quality=70),
    )


@pytest.fixture
async def space(store: SQLiteStore) -> list[Article]:
    return await fx.add_stories(
        store,
        *(
            fx.story(f"rocket-{n:02d}", f"Rocket launch {n:02d}", quality=99 - n,
                     topics=["Space"], provider="Orbit Daily")
            for n in range(1, 13)
        ),
    )  # fmt: skip


@pytest.fixture
def sender() -> fx.FakeSender:
    return fx.FakeSender()


@pytest.fixture
def stories_cog(store: SQLiteStore) -> Stories:
    return Stories(fx.settings(), store)


@pytest.fixture
def queue_cog(store: SQLiteStore, sender: fx.FakeSender) -> Queue:
    config = fx.settings()
    return Queue(config, store, fx.deliverer(store, sender, config), sender.notify)


@pytest.fixture
def guild() -> tuple[discord.Guild, dict[int, discord.TextChannel]]:
    channels = fx.channels()
    return fx.guild_with(channels.values()), channels


def asked_by(user: tuple[int, str], guild: Any = None) -> Any:
    return fx.interaction(fx.user_of(user), guild[0] if guild else None)


def page_embed(title: str, lines: list[str], footer: str, colour: int) -> dict[str, Any]:
    return {
        "title": title,
        "description": "\n".join(lines),
        "color": colour,
        "type": "rich",
        "flags": 0,
        "footer": {"text": footer},
    }


def options(articles: list[Article], provider: str = "Orbit Daily") -> list[dict[str, Any]]:
    return [
        {
            "label": a.title,
            "value": a.id,
            "default": False,
            "description": f"{a.id} · {provider} · quality {a.quality}",
        }
        for a in articles
    ]


def select_row(articles: list[Article], provider: str = "Orbit Daily") -> dict[str, Any]:
    return {
        "type": 1,
        "components": [
            {
                "type": 3,
                "min_values": 1,
                "max_values": 1,
                "disabled": False,
                "required": True,
                "placeholder": "Read a story in full…",
                "options": options(articles, provider),
            }
        ],
    }


def nav_row(previous: bool, following: bool, *, disabled: bool = False) -> dict[str, Any]:
    return {
        "type": 1,
        "components": [
            {"type": 2, "style": 2, "disabled": disabled or not previous, "label": "Previous",
             "emoji": {"id": None, "name": "◀️"}},
            {"type": 2, "style": 2, "disabled": disabled or not following, "label": "Next",
             "emoji": {"id": None, "name": "▶️"}},
        ],
    }  # fmt: skip


def numbered(articles: list[Article], start: int = 1) -> list[str]:
    return [f"{n}. {summary_line(a)}" for n, a in enumerate(articles, start)]


# --------------------------------------------------------------------------- /search


async def test_search_pages_through_results_and_opens_one(
    stories_cog: Stories, space: list[Article]
) -> None:
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.search, stories_cog, fake, "space", None, 12, False)
    page_one = page_embed(
        "Stories about Space",
        numbered(space[:10]),
        "Page 1/2 · 12 of 12 matching stories · pick one below to read it in full",
        SPACE_COLOUR,
    )
    assert fx.reply(fake) == {
        "ephemeral": True,
        "allowed_mentions": fx.NO_MENTIONS,
        "embed": page_one,
        "view": [select_row(space[:10]), nav_row(False, True)],
    }
    view = fake.response.send_message.await_args.kwargs["view"]
    assert isinstance(view, Pages) and view.interaction is fake

    turn = asked_by(fx.RITA)
    await view.next.callback(turn)
    turn.response.edit_message.assert_awaited_once()
    assert fx.payload(turn.response.edit_message.await_args.kwargs) == {
        "embed": page_embed(
            "Stories about Space",
            numbered(space[10:], 11),
            "Page 2/2 · 12 of 12 matching stories · pick one below to read it in full",
            SPACE_COLOUR,
        ),
        "view": [select_row(space[10:]), nav_row(True, False)],
        "allowed_mentions": fx.NO_MENTIONS,
    }
    back = asked_by(fx.RITA)
    await view.previous.callback(back)
    assert fx.payload(back.response.edit_message.await_args.kwargs)["embed"] == page_one
    # discord.py calls View._refresh(components) when a message it tracks is edited; Pages
    # once replaced that hook with a method of no argument (a TypeError in the gateway)
    view._refresh([])
    assert (view.index, view.previous.disabled, view.next.disabled) == (0, True, False)

    pick = asked_by(fx.RITA)
    view.open_story._refresh_state(pick, {"custom_id": view.open_story.custom_id,
                                         "component_type": 3, "values": [space[2].id]})  # fmt: skip
    await view.open_story.callback(pick)
    post = build_post(space[2], colours=fx.settings().topic_colours)
    assert fx.reply(pick) == {
        "ephemeral": True,
        "allowed_mentions": fx.NO_MENTIONS,
        "embed": post.embed.to_dict(),
        "view": [
            {"type": 1, "components": [
                {"type": 2, "style": 5, "disabled": False, "label": "Read on Orbit Daily",
                 "url": "https://news.example.com/rocket-03"},
            ]},
        ],
    }  # fmt: skip


async def test_only_the_user_who_searched_may_use_the_menu(
    stories_cog: Stories, space: list[Article]
) -> None:
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.search, stories_cog, fake, "Space", None, 12, True)
    assert fx.reply(fake)["ephemeral"] is False  # public: true shares it
    view = fake.response.send_message.await_args.kwargs["view"]
    stranger = asked_by(fx.MIA)
    assert await view.interaction_check(stranger) is False
    assert fx.reply(stranger) == fx.text_reply(
        "This menu isn't yours: run the command yourself to get your own."
    )
    assert view.index == 0
    assert await view.interaction_check(asked_by(fx.RITA)) is True


async def test_the_menu_is_disabled_when_it_times_out(
    stories_cog: Stories, space: list[Article]
) -> None:
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.search, stories_cog, fake, "Space", None, 12, False)
    view = fake.response.send_message.await_args.kwargs["view"]
    assert view.timeout == 600.0
    await view.on_timeout()
    fake.edit_original_response.assert_awaited_once()
    edit = fake.edit_original_response.await_args.kwargs
    assert edit.keys() == {"view", "allowed_mentions"} and edit["view"] is view
    assert edit["allowed_mentions"].to_dict() == fx.NO_MENTIONS
    rows = fx.components(view)
    assert rows is not None
    assert rows[0]["components"][0]["disabled"] is True
    assert rows[1] == nav_row(False, False, disabled=True)


async def test_the_menu_times_out_while_a_token_can_still_edit_it(space: list[Article]) -> None:
    now = [0.0]
    view = Pages(
        fx.RITA[0],
        [discord.Embed(title="1"), discord.Embed(title="2")],
        stories=[space[:10], space[10:]],
        clock=lambda: now[0],
    )
    command = asked_by(fx.RITA)
    view.interaction = command
    assert view.timeout == 600.0

    now[0] = 540.0  # a story opened at minute 9: the command's token lasts until minute 15
    pick = asked_by(fx.RITA)
    view.open_story._refresh_state(pick, {"custom_id": view.open_story.custom_id,
                                         "component_type": 3, "values": [space[0].id]})  # fmt: skip
    await view.open_story.callback(pick)
    assert view.timeout == 300.0  # disabled at minute 14, not at 19

    now[0] = 600.0  # a page turn answers by editing the menu: its token is the new one
    turn = asked_by(fx.RITA)
    await view.next.callback(turn)
    assert (view.timeout, view.interaction) == (600.0, turn)

    now[0] = 1300.0
    await view.open_story.callback(asked_by(fx.RITA))
    assert view.timeout == 140.0  # 14 minutes after the page turn

    await view.on_timeout()
    command.edit_original_response.assert_not_awaited()
    turn.edit_original_response.assert_awaited_once()
    assert turn.edit_original_response.await_args.kwargs["view"] is view


async def test_one_page_of_results_has_no_page_buttons(
    stories_cog: Stories, space: list[Article]
) -> None:
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.search, stories_cog, fake, "Space", "launch", 3, False)
    assert fx.reply(fake) == {
        "ephemeral": True,
        "allowed_mentions": fx.NO_MENTIONS,
        "embed": page_embed(
            "Stories about Space matching “launch”",
            numbered(space[:3]),
            "Page 1/1 · 3 of 12 matching stories · pick one below to read it in full",
            SPACE_COLOUR,
        ),
        "view": [select_row(space[:3])],
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ('"facial', True),  # an unbalanced quote is just a word
        ("-facial", True),  # not a negation
        ("facial NEAR recognition", False),  # NEAR is a word the story lacks
        ("facial OR quantum", False),  # OR is a word too: both must match
        ("recog*", False),  # no prefix search
        ("title:facial", False),  # no column filter: "title" is a word
        ("'); DROP TABLE articles; --", False),
        ("(((", False),  # only punctuation
        ("ＩＢＭ facial", False),
    ],
)
async def test_search_text_is_plain_words_whatever_it_contains(
    stories_cog: Stories, store: SQLiteStore, ai: list[Article], query: str, found: bool
) -> None:
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.search, stories_cog, fake, "AI", query, 10, False)
    answer = fx.reply(fake)
    if found:
        assert answer["embed"]["description"] == f"1. {summary_line(ai[0])}"
        assert answer["embed"]["footer"]["text"].startswith("Page 1/1 · 1 of 1 matching story")
    else:
        shown = query.replace("`", "ˋ")
        assert answer == fx.text_reply(f"No story about `AI` matches `{shown}`.")
    assert await store.article_count() == 3


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("Spcae", "There is no topic `Spcae`. Did you mean `Space`?"),
        ("vision", "There is no topic `vision`. Did you mean `Computer Vision`?"),
        ("zzzz", "There is no topic `zzzz`. /topics lists every topic."),
        ("`@everyone`", "There is no topic `ˋ@everyoneˋ`. /topics lists every topic."),
    ],
)
async def test_an_unknown_topic_answers_with_the_closest_ones(
    stories_cog: Stories, ai: list[Article], space: list[Article], topic: str, message: str
) -> None:
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.search, stories_cog, fake, topic, None, 10, True)
    assert fx.reply(fake) == fx.text_reply(message)  # errors stay private even if public


async def test_topic_case_does_not_matter(stories_cog: Stories, ai: list[Article]) -> None:
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.search, stories_cog, fake, "computer vision", None, 10, False)
    assert fx.reply(fake)["embed"]["title"] == "Stories about Computer Vision"


async def test_topics_match_without_accents_or_a_unicode_form(
    stories_cog: Stories, store: SQLiteStore
) -> None:
    mexico = "M\u00e9xico"  # é as one character (NFC)
    await fx.add_stories(
        store,
        fx.story("mx", "Elections in Mexico", topics=[mexico]),
        fx.story("de", "Munich news", topics=["M\u00fcnchen"]),
        fx.story("de2", "More Munich news", topics=["Munchen"]),
    )
    for typed in ("mexico", "MEXICO", "Me\u0301xico"):  # the last: é as e + accent (NFD)
        fake = asked_by(fx.RITA)
        await fx.invoke(stories_cog.search, stories_cog, fake, typed, None, 10, False)
        assert fx.reply(fake)["embed"]["title"] == f"Stories about {mexico}", typed
    fake = asked_by(fx.RITA)  # two spellings are one topic, shown as first stored
    await fx.invoke(stories_cog.search, stories_cog, fake, "munchen", None, 10, False)
    assert fx.reply(fake)["embed"]["title"] == "Stories about M\u00fcnchen"
    assert fx.reply(fake)["embed"]["footer"]["text"] == (
        "Page 1/1 · 2 of 2 matching stories · pick one below to read it in full"
    )
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.search, stories_cog, fake, "mexiko", None, 10, False)
    assert fx.reply(fake) == fx.text_reply(f"There is no topic `mexiko`. Did you mean `{mexico}`?")

    choices = await stories_cog._topics(asked_by(fx.RITA), "mex")
    assert [(c.name, c.value) for c in choices] == [(f"{mexico} (1)", mexico)]
    choices = await stories_cog._topics(asked_by(fx.RITA), "m\u00fcnc")
    assert [(c.name, c.value) for c in choices] == [("M\u00fcnchen (2)", "M\u00fcnchen")]


# --------------------------------------------------------------------------- /topics, /latest…


async def test_topics_lists_every_topic_with_its_count(
    stories_cog: Stories, ai: list[Article], space: list[Article]
) -> None:
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.topics, stories_cog, fake)
    assert fx.reply(fake) == {
        "ephemeral": True,
        "allowed_mentions": fx.NO_MENTIONS,
        "embed": page_embed(
            "Topics",
            ["**Space** · 12 stories", "**AI** · 3 stories", "**Computer Vision** · 1 story"],
            "Page 1/1 · 3 topics",
            0x5865F2,
        ),
    }


async def test_topics_without_stories(stories_cog: Stories) -> None:
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.topics, stories_cog, fake)
    assert fx.reply(fake) == fx.text_reply("There are no topics yet: no stories are loaded.")


async def test_latest_shows_the_most_recently_posted(
    stories_cog: Stories, store: SQLiteStore, ai: list[Article], space: list[Article], guild: Any
) -> None:
    await store.set_delivery(ai[1].id, fx.AI.id, DeliveryState.SENT, message_id=1)
    await store.set_delivery(space[0].id, fx.DIGEST.id, DeliveryState.SENT, message_id=2)
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.latest, stories_cog, fake, "ai")
    sent = await store.delivery(ai[1].id, fx.AI.id)
    assert sent is not None and sent.sent_ts is not None
    assert fx.reply(fake) == {
        "ephemeral": True,
        "allowed_mentions": fx.NO_MENTIONS,
        "embed": {
            "title": "Latest stories about AI",
            "description": f"{summary_line(ai[1])}\n↳ posted <t:{sent.sent_ts}:R> in <#101>",
            "color": AI_COLOUR,
            "type": "rich",
            "flags": 0,
        },
    }
    # asked in a server: each story links to its post
    in_guild = asked_by(fx.RITA, guild)
    await fx.invoke(stories_cog.latest, stories_cog, in_guild, "ai")
    link = f"https://discord.com/channels/{guild[0].id}/101/1"
    assert fx.reply(in_guild)["embed"]["description"] == (
        f"{summary_line(ai[1])}\n↳ [posted]({link}) <t:{sent.sent_ts}:R> in <#101>"
    )
    nothing = asked_by(fx.RITA)
    await fx.invoke(stories_cog.latest, stories_cog, nothing, "Computer Vision")
    assert fx.reply(nothing) == fx.text_reply(
        "No story about `Computer Vision` has been posted yet."
    )


async def test_article_shows_the_story_as_posted(stories_cog: Stories, ai: list[Article]) -> None:
    ibm = ai[0]
    fake = asked_by(fx.RITA)
    await fx.invoke(stories_cog.article, stories_cog, fake, ibm.id.upper())
    assert fx.reply(fake) == {
        "ephemeral": True,
        "allowed_mentions": fx.NO_MENTIONS,
        "embed": build_post(ibm, colours=fx.settings().topic_colours).embed.to_dict(),
        "view": [
            {"type": 1, "components": [
                {"type": 2, "style": 5, "disabled": False, "label": "Read on The Verge",
                 "url": "https://news.example.com/ibm"},
            ]},
        ],
    }  # fmt: skip
    missing = asked_by(fx.RITA)
    await fx.invoke(stories_cog.article, stories_cog, missing, "zzzzzzzz")
    assert fx.reply(missing) == fx.text_reply(
        "No story has the id `zzzzzzzz`. Start typing a title or an id and pick a story."
    )


# --------------------------------------------------------------------------- autocomplete


async def test_topic_autocomplete_has_counts(
    stories_cog: Stories, ai: list[Article], space: list[Article]
) -> None:
    choices = await stories_cog._topics(asked_by(fx.RITA), "")
    assert [(c.name, c.value) for c in choices] == [
        ("Space (12)", "Space"),
        ("AI (3)", "AI"),
        ("Computer Vision (1)", "Computer Vision"),
    ]
    vision = await stories_cog._topics(asked_by(fx.RITA), "visi")
    assert [(c.name, c.value) for c in vision] == [("Computer Vision (1)", "Computer Vision")]


async def test_article_autocomplete_by_id_prefix_or_title_words(
    stories_cog: Stories, ai: list[Article]
) -> None:
    ibm = ai[0]
    by_id = await stories_cog._articles(asked_by(fx.RITA), ibm.id[:3])
    assert [(c.name, c.value) for c in by_id] == [
        (f"{ibm.id} · IBM will no longer offer facial recognition software", ibm.id)
    ]
    by_words = await stories_cog._articles(asked_by(fx.RITA), "language mod")
    assert [c.value for c in by_words] == [ai[1].id]
    hostile = await stories_cog._articles(asked_by(fx.RITA), '"NEAR(* OR')
    assert hostile == []


async def test_autocomplete_stops_at_25_choices_of_at_most_100_characters(
    stories_cog: Stories, store: SQLiteStore
) -> None:
    long_title = "Breaking " + "very " * 40 + "long headline"
    await fx.add_stories(
        store,
        *(fx.story(f"long-{n}", f"{long_title} {n}", topics=[f"Topic {n}"]) for n in range(30)),
    )
    choices = await stories_cog._articles(asked_by(fx.RITA), "breaking")
    assert len(choices) == 25
    assert all(len(c.name) <= 100 and len(c.value) <= 100 for c in choices)
    assert choices[0].name.endswith("…") and len(choices[0].name) == 100
    topics = await stories_cog._topics(asked_by(fx.RITA), "topic")
    assert len(topics) == 25


async def test_remove_and_move_suggest_the_channels_pinned_stories(
    queue_cog: Queue, store: SQLiteStore, ai: list[Article], guild: Any
) -> None:
    ibm, model, chips = ai
    await store.pin(fx.AI.id, chips.id, None, actor_id=1)
    await store.pin(fx.AI.id, ibm.id, None, actor_id=1)
    await store.pin(fx.DIGEST.id, model.id, None, actor_id=1)
    asked = asked_by(fx.MIA, guild)
    asked.namespace = SimpleNamespace(channel=guild[1][fx.AI.id])
    assert [c.value for c in await queue_cog._pinned(asked, "")] == [chips.id, ibm.id]
    assert [c.value for c in await queue_cog._pinned(asked, "FACIAL")] == [ibm.id]
    assert [c.value for c in await queue_cog._pinned(asked, ibm.id[:3].upper())] == [ibm.id]
    # No channel chosen yet: every story, as for the other commands.
    asked.namespace = SimpleNamespace()
    assert len(await queue_cog._pinned(asked, "")) == 3


async def test_autocomplete_never_raises(stories_cog: Stories, store: SQLiteStore) -> None:
    await store.close()  # the database is gone
    assert await stories_cog._articles(asked_by(fx.RITA), "ibm") == []
    assert await stories_cog._topics(asked_by(fx.RITA), "a") == []


async def test_submit_topics_autocomplete_completes_the_last_one(
    queue_cog: Queue, ai: list[Article], guild: Any
) -> None:
    choices = await queue_cog._topics(asked_by(fx.MIA, guild), "Robots, comp")
    assert [(c.name, c.value) for c in choices] == [
        ("Robots, Computer Vision", "Robots, Computer Vision")
    ]


# --------------------------------------------------------------------------- /queue


async def test_a_member_without_rights_is_refused_and_nothing_changes(
    queue_cog: Queue,
    store: SQLiteStore,
    sender: fx.FakeSender,
    ai: list[Article],
    guild: Any,
) -> None:
    channels = guild[1]
    fake = asked_by(fx.RITA, guild)
    await fx.invoke(queue_cog.skip, queue_cog, fake, ai[0].id, channels[fx.AI.id])
    assert fx.reply(fake) == fx.text_reply(
        "Sorry, only moderators can do that: it needs the Manage Messages permission in "
        "<#101>, or a moderator role."
    )
    assert await store.deliveries() == []
    post = asked_by(fx.RITA, guild)
    await fx.invoke(queue_cog.post, queue_cog, post, channels[fx.AI.id])
    post.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    assert fx.reply(post)["content"].startswith("Sorry, only moderators can do that")
    assert sender.sent == []
    assert [(e.actor_name, e.action, e.result) for e in reversed(await store.audit_log())] == [
        ("rita", "queue.skip", "refused"),
        ("rita", "queue.post", "refused"),
    ]
    assert sender.notes == [
        "🚫 **rita** (<@3>) was refused `/queue skip` in <#101>: not a moderator here",
        "🚫 **rita** (<@3>) was refused `/queue post` in <#101>: not a moderator here",
    ]


async def test_a_moderator_pins_and_the_mod_log_hears_of_it(
    queue_cog: Queue,
    store: SQLiteStore,
    sender: fx.FakeSender,
    ai: list[Article],
    guild: Any,
) -> None:
    ibm = ai[0]
    fake = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.add, queue_cog, fake, ibm.id, guild[1][fx.AI.id], None)
    assert fx.reply(fake) == fx.text_reply(
        f"📌 Pinned `{ibm.id}` **IBM will no longer offer facial recognition software** in "
        "<#101> at position 1 of 1."
    )
    assert await store.pins(fx.AI.id) == [ibm.id]
    assert sender.notes == [
        f"**mia** (<@1>) used `/queue add` in <#101> on `{ibm.id}`: pinned at position 1 of 1"
    ]


async def test_queue_list_shows_the_next_stories(
    queue_cog: Queue, store: SQLiteStore, ai: list[Article], guild: Any
) -> None:
    await store.pin(fx.AI.id, ai[2].id, None, 1)
    await store.set_delivery(ai[1].id, fx.AI.id, DeliveryState.FAILED, error="HTTP 400")
    fake = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.list_, queue_cog, fake, guild[1][fx.AI.id])
    fake.response.defer.assert_not_awaited()  # one channel: answered at once
    assert fx.reply(fake) == {
        "ephemeral": True,
        "allowed_mentions": fx.NO_MENTIONS,
        "embed": {
            "title": "Queue of #ai-news",
            "description": "every 30m, 1 per run · 1 failed (/queue retry)\n\n"
            f"1. 📌 {summary_line(ai[2])}\n2. {summary_line(ai[0])}",
            "color": 0x5865F2,
            "type": "rich",
            "flags": 0,
            "footer": {"text": "📌 pinned by a moderator · posted in this order"},
        },
    }


async def test_queue_list_of_every_channel(
    queue_cog: Queue, store: SQLiteStore, ai: list[Article], guild: Any
) -> None:
    await store.set_route_state(RouteState(fx.DIGEST.id, True, "paused by mia"))
    fake = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.list_, queue_cog, fake, None)
    fake.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    embed = fx.reply(fake)["embed"]
    assert embed["title"] == "Newsdesk queues"
    assert [(f["name"], f["value"].split("\n")[0]) for f in embed["fields"]] == [
        ("#ai-news", "every 30m, 1 per run"),
        ("#daily-digest (paused)", "**Paused**: paused by mia · every 30m, 1 per run"),
        ("#reviewed", "every 30m, 1 per run · 0 waiting for review in <#201>"),
    ]
    assert embed["fields"][0]["value"].split("\n")[1:] == [
        f"{n}. `{a.id}` **{a.title}**" for n, a in enumerate(ai, 1)
    ]
    assert embed["fields"][2]["value"].split("\n")[1] == "Nothing approved or pinned is waiting."


async def test_post_defers_then_follows_up(
    queue_cog: Queue, store: SQLiteStore, sender: fx.FakeSender, ai: list[Article], guild: Any
) -> None:
    await store.set_route_state(RouteState(fx.AI.id, True, "paused by mia"))
    fake = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.post, queue_cog, fake, guild[1][fx.AI.id])
    fake.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    fake.response.send_message.assert_not_awaited()
    assert fx.reply(fake) == fx.text_reply(
        f"📰 Posted `{ai[0].id}` **IBM will no longer offer facial recognition software** in "
        f"<#101>: [open the post](https://discord.com/channels/{guild[0].id}/101/5000)."
        " The channel stays paused; /queue resume restarts its schedule."
    )
    assert [s[:2] for s in sender.sent] == [(fx.AI.id, ai[0].id)]
    delivery = await store.delivery(ai[0].id, fx.AI.id)
    assert delivery is not None and delivery.state is DeliveryState.SENT


async def test_skip_retry_resume_and_why_replies(
    queue_cog: Queue, store: SQLiteStore, ai: list[Article], guild: Any
) -> None:
    channel = guild[1][fx.AI.id]
    ibm, model = ai[0], ai[1]
    skip = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.skip, queue_cog, skip, ibm.id, channel)
    assert fx.reply(skip) == fx.text_reply(
        f"⏭️ Skipped `{ibm.id}` **IBM will no longer offer facial recognition software**: "
        "it will not be posted in <#101>."
    )
    await store.set_delivery(model.id, fx.AI.id, DeliveryState.FAILED, error="HTTP 400: bad")
    retry = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.retry, queue_cog, retry, channel)
    assert fx.reply(retry) == fx.text_reply("🔁 Put 1 failed story back in the queue of <#101>.")
    resume = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.resume, queue_cog, resume, channel)
    assert fx.reply(resume) == fx.text_reply("<#101> is not paused.")
    why = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.why, queue_cog, why, ibm.id, channel)
    assert fx.reply(why) == {
        "ephemeral": True,
        "allowed_mentions": fx.NO_MENTIONS,
        "embed": {
            "title": f"Why {ibm.id} is not posted in #ai-news",
            "description": f"{summary_line(ibm)}\n\n"
            "• a moderator skipped it for this channel: by mia",
            "color": 0x5865F2,
            "type": "rich",
            "flags": 0,
        },
    }


async def test_move_and_remove_replies(
    queue_cog: Queue, store: SQLiteStore, ai: list[Article], guild: Any
) -> None:
    channel = guild[1][fx.AI.id]
    for article in ai:
        await store.pin(fx.AI.id, article.id, None, 1)
    move = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.move, queue_cog, move, ai[2].id, channel, 1)
    assert fx.reply(move) == fx.text_reply(
        f"↕️ Moved `{ai[2].id}` **Chip makers race ahead** to position 1 of 3 in <#101>."
    )
    assert await store.pins(fx.AI.id) == [ai[2].id, ai[0].id, ai[1].id]
    remove = asked_by(fx.MIA, guild)
    await fx.invoke(queue_cog.remove, queue_cog, remove, ai[0].id, channel)
    assert fx.reply(remove) == fx.text_reply(
        f"Unpinned `{ai[0].id}` **IBM will no longer offer facial recognition software** "
        "from <#101>. It may still come up by rank; /queue skip keeps it out for good."
    )
    assert await store.pins(fx.AI.id) == [ai[2].id, ai[1].id]


async def test_submit_refuses_a_javascript_url(
    queue_cog: Queue, store: SQLiteStore, sender: fx.FakeSender, guild: Any
) -> None:
    fake = asked_by(fx.MIA, guild)
    await fx.invoke(
        queue_cog.submit,
        queue_cog,
        fake,
        "javascript:alert(1)",
        "Free prizes",
        None,
        None,
        None,
        guild[1][fx.AI.id],
    )
    fake.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    assert fx.reply(fake) == fx.text_reply(
        "Only web links can be submitted: the URL must start with http:// or https:// and "
        "name a host."
    )
    assert await store.article_count() == 0
    assert sender.notes == []  # a mistake is audited, not echoed


async def test_submit_stores_and_pins(
    queue_cog: Queue, store: SQLiteStore, sender: fx.FakeSender, guild: Any
) -> None:
    fake = asked_by(fx.MIA, guild)
    await fx.invoke(
        queue_cog.submit, queue_cog, fake, "https://example.org/scoop", "A *scoop* @everyone",
        "Big.", "AI", 80, guild[1][fx.AI.id],
    )  # fmt: skip
    (stored,), _total = await store.search("scoop")
    assert (stored.title, stored.source, stored.quality, stored.topics) == (
        "A *scoop* @everyone",
        "moderator",
        80,
        ("AI",),
    )
    assert fx.reply(fake) == fx.text_reply(
        f"📝 Stored `{stored.id}` **A \\*scoop\\* @\u200beveryone** as a moderator-submitted "
        f"story.\nIt competes only in the queues of <#101>.\n"
        f"📌 Pinned `{stored.id}` **A \\*scoop\\* @\u200beveryone** in <#101> at "
        "position 1 of 1."
    )
    assert await store.pins(fx.AI.id) == [stored.id]


async def test_without_a_mod_log_nothing_is_echoed(
    store: SQLiteStore, sender: fx.FakeSender, guild: Any
) -> None:
    config = fx.settings(mod_log=False)
    cog = Queue(config, store, fx.deliverer(store, sender, config), sender.notify)
    fake = asked_by(fx.MIA, guild)
    await fx.invoke(cog.pause, cog, fake, guild[1][fx.AI.id])
    assert fx.reply(fake)["content"].startswith("⏸️ Paused <#101>")
    assert sender.notes == []


# --------------------------------------------------------------------------- errors


async def test_an_internal_error_is_logged_and_answered_briefly(
    queue_cog: Queue, caplog: pytest.LogCaptureFixture, guild: Any
) -> None:
    fake = asked_by(fx.MIA, guild)
    command = queue_cog.skip
    error = app_commands.CommandInvokeError(command, RuntimeError("secret table is locked"))
    with caplog.at_level(logging.ERROR):
        await queue_cog.cog_app_command_error(fake, error)
    assert fx.reply(fake) == fx.text_reply(SORRY)
    assert "secret table is locked" in caplog.text  # the log has the details


async def test_an_error_after_deferring_is_a_follow_up(
    stories_cog: Stories, caplog: pytest.LogCaptureFixture
) -> None:
    fake = asked_by(fx.MIA)
    await fake.response.defer(ephemeral=True, thinking=True)
    error = app_commands.CommandInvokeError(stories_cog.search, ValueError("boom"))
    await stories_cog.cog_app_command_error(fake, error)
    fake.followup.send.assert_awaited_once()
    assert fx.reply(fake) == fx.text_reply(SORRY)


async def test_a_channel_the_bot_cannot_see(
    queue_cog: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    fake = asked_by(fx.MIA)
    transformer = app_commands.transformers.BaseChannelTransformer(discord.TextChannel)
    error = app_commands.TransformerError("1234", discord.AppCommandOptionType.channel, transformer)
    await queue_cog.cog_app_command_error(fake, error)
    assert fx.reply(fake) == fx.text_reply(
        "I cannot see that channel. Pick a text or forum channel that Newsdesk can read."
    )
    assert caplog.records == []


async def test_a_button_without_its_cog_says_so() -> None:
    button = ReviewButton("approve", "j80stkmk", fx.REVIEWED.id)

    class NoCogs:
        def get_cog(self, name: str) -> None:
            return None

    fake = fx.interaction(fx.user_of(fx.MIA), client=NoCogs())
    await button.callback(fake)
    assert fx.reply(fake) == fx.text_reply(
        "Reviews are not available right now; try again in a minute."
    )


# --------------------------------------------------------------------------- limits


def hostile(n: int, topic: str = "AI") -> Article:
    return Article(
        id=f"h{n:07d}",
        canonical_url=f"https://x.example/{n}",
        url=f"https://x.example/{'p' * 900}/{n}",
        title="[click](javascript:alert(1)) @everyone " + "*" * 600,
        quality=50,
        topics=(topic,),
    )


def test_result_pages_stay_within_discords_limits() -> None:
    from bot.desk.stories import SearchResults
    from bot.render.replies import result_pages, story_options

    articles = tuple(hostile(n) for n in range(25))
    pages = result_pages(SearchResults("AI" * 60, "q" * 200, articles, 10_000), {})
    assert sum(len(p.articles) for p in pages) == 25
    for page in pages:
        assert 1 <= len(page.articles) <= 10
        assert len(page.embed) <= 6000
        assert len(page.embed.description or "") <= 4096
        assert len(page.embed.title or "") <= 256
        for option in story_options(page.articles):
            assert len(option.label) <= 100 and len(option.description or "") <= 100
            assert "@everyone" not in option.label  # escaped: @\u200beveryone


def test_the_queue_of_many_channels_stays_within_discords_limits() -> None:
    from bot.desk.moderation import ChannelQueue, QueueListing
    from bot.render.replies import queue_embed
    from bot.store.records import QueueItem

    routes = [
        Route(id=1000 + n, name=f"channel-{n:02d}-" + "x" * 60, schedule=fx.EVERY_30M)
        for n in range(30)
    ]
    queues = tuple(
        ChannelQueue(
            route,
            RouteState(route.id, True, "r" * 500),
            tuple(QueueItem(hostile(n), n % 2 == 0, None) for n in range(5)),
            0,
            3,
        )
        for route in routes
    )
    embed = queue_embed(QueueListing(queues))
    assert len(embed.fields) == 25
    assert len(embed) <= 6000
    assert all(len(f.value or "") <= 1024 and len(f.name or "") <= 256 for f in embed.fields)
    assert embed.footer.text == "…and 5 more channels: pick one with channel:"
    single = queue_embed(QueueListing(queues[:1]))
    assert len(single.description or "") <= 4096 and len(single) <= 6000


# --------------------------------------------------------------------------- loopback Discord


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(token=fx.TOKEN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def component(data: dict[str, Any], kind: int) -> dict[str, Any]:
    return next(c for row in data["components"] for c in row["components"] if c["type"] == kind)


async def test_commands_through_a_loopback_discord(fake: FakeDiscord, tmp_path: Any) -> None:
    room = fx.newsroom(fake, tmp_path / "seeds")
    general, ai_news, mod_log = (room.channel[n] for n in ("general", "ai-news", "mod-log"))
    store = await open_store(":memory:")
    ibm, model, _chips = await fx.add_stories(
        store,
        fx.story("ibm", "IBM will no longer offer facial recognition software", quality=90),
        fx.story("model", "A new language model", quality=80),
        fx.story("chips", "Chip makers race ahead", quality=70),
    )
    try:
        async with fx.running_bot(room, store):
            assert {c["name"] for c in fake.commands()} == {
                "search", "topics", "latest", "article", "queue",
            }  # fmt: skip

            auto = await fake.send_autocomplete(
                "search", {"topic": "a"}, "topic", channel_id=general, user=room.user["rita"]
            )
            assert await auto.response() == {
                "type": 8,
                "data": {"choices": [{"name": "AI (3)", "value": "AI"}]},
            }

            search = await fake.send_command(
                "search", {"topic": "ai", "query": '"facial'}, channel_id=general,
                user=room.user["rita"],
            )  # fmt: skip
            answer = await search.response()
            assert (answer["type"], answer["data"]["flags"]) == (4, 64)  # ephemeral
            assert answer["data"]["allowed_mentions"] == {"parse": []}
            assert answer["data"]["embeds"][0]["description"] == f"1. {summary_line(ibm)}"
            menu = component(answer["data"], 3)
            assert [o["value"] for o in menu["options"]] == [ibm.id]

            stranger = await fake.send_component(
                menu["custom_id"], component_type=3, values=[ibm.id], channel_id=general,
                user=room.user["mia"],
            )  # fmt: skip
            assert (await stranger.response())["data"]["content"] == (
                "This menu isn't yours: run the command yourself to get your own."
            )
            pick = await fake.send_component(
                menu["custom_id"], component_type=3, values=[ibm.id], channel_id=general,
                user=room.user["rita"],
            )  # fmt: skip
            opened = await pick.response()
            assert (opened["type"], opened["data"]["flags"]) == (4, 64)
            assert opened["data"]["embeds"] == build_post(ibm).to_payload()["embeds"]

            refused = await fake.send_command(
                "queue", {"channel": fake.channel(ai_news)}, subcommand="pause",
                channel_id=general, user=room.user["rita"],
            )  # fmt: skip
            assert (await refused.response())["data"] == {
                "content": "Sorry, only moderators can do that: it needs the Manage Messages "
                f"permission in <#{ai_news}>, or a moderator role.",
                "flags": 64,
                "allowed_mentions": {"parse": []},
                "tts": False,
            }
            logged = await fake.wait_for_messages(mod_log, 1)
            assert logged[0]["content"] == (
                f"🚫 **rita** (<@{room.user['rita'].id}>) was refused `/queue pause` in "
                f"<#{ai_news}>: not a moderator here"
            )
            assert await store.route_state(ai_news) == RouteState(ai_news)

            skip = await fake.send_command(
                "queue", {"article": model.id, "channel": fake.channel(ai_news)},
                subcommand="skip", channel_id=general, user=room.user["rolf"],
            )  # fmt: skip
            assert (await skip.response())["data"]["content"].startswith(f"⏭️ Skipped `{model.id}`")

            post = await fake.send_command(
                "queue", {"channel": fake.channel(ai_news)}, subcommand="post",
                channel_id=general, user=room.user["mia"],
            )  # fmt: skip
            assert (await post.response())["type"] == 5  # deferred, then a follow-up
            followup = await post.wait_followup()
            posted = await fake.wait_for_messages(ai_news, 1)
            (guild_id,) = fake.guilds
            link = f"https://discord.com/channels/{guild_id}/{ai_news}/{posted[0]['id']}"
            assert followup["content"] == (
                f"📰 Posted `{ibm.id}` **IBM will no longer offer facial recognition "
                f"software** in <#{ai_news}>: [open the post]({link})."
            )
            assert posted[0]["embeds"] == build_post(ibm).to_payload()["embeds"]

            submit = await fake.send_command(
                "queue", {"url": "javascript:alert(1)", "title": "Prizes"},
                subcommand="submit", channel_id=general, user=room.user["mia"],
            )  # fmt: skip
            assert (await submit.wait_followup())["content"].startswith(
                "Only web links can be submitted"
            )
        assert await store.article_count() == 3
        delivery = await store.delivery(ibm.id, ai_news)
        assert delivery is not None and delivery.state is DeliveryState.SENT
    finally:
        await store.close()


# --------------------------------------------------------------------------- two guilds


@pytest.fixture
def two_guild_cog(store: SQLiteStore, sender: fx.FakeSender) -> Queue:
    config = fx.two_guilds()
    return Queue(config, store, fx.deliverer(store, sender, config), sender.notify)


@pytest.fixture
def guild_b() -> tuple[discord.Guild, dict[int, discord.TextChannel]]:
    channels = fx.channels_b()
    return fx.guild_with(channels.values(), fx.GUILD_B), channels


def bea_in(guild_b: Any) -> Any:
    return fx.interaction(fx.member(fx.BEA, (fx.MOD_ROLE_B,)), guild_b[0])


async def test_a_moderator_of_one_guild_is_refused_another_guilds_channel(
    two_guild_cog: Queue,
    store: SQLiteStore,
    sender: fx.FakeSender,
    ai: list[Article],
    guild: Any,
    guild_b: Any,
) -> None:
    b_news = guild_b[1][fx.B_NEWS.id]
    await store.pin(fx.B_NEWS.id, ai[1].id, None, fx.BEA[0])
    pause = asked_by(fx.ROLF, guild)  # guild A's moderator role
    await fx.invoke(two_guild_cog.pause, two_guild_cog, pause, b_news)
    assert fx.reply(pause) == fx.text_reply(
        "Sorry, <#501> is not a channel of this server: moderators act only on the channels "
        "of the server they use the command in."
    )
    add = asked_by(fx.ROLF, guild)
    await fx.invoke(two_guild_cog.add, two_guild_cog, add, ai[0].id, b_news, 1)
    assert fx.reply(add) == fx.reply(pause)
    assert await store.route_state(fx.B_NEWS.id) == RouteState(fx.B_NEWS.id)
    assert await store.pins(fx.B_NEWS.id) == [ai[1].id]
    assert [
        (e.actor_name, e.action, e.channel_id, e.detail, e.result)
        for e in reversed(await store.audit_log())
    ] == [
        ("rolf", "queue.pause", 501, "channel of another server", "refused"),
        ("rolf", "queue.add", 501, "channel of another server", "refused"),
    ]
    assert sender.notes == [
        "🚫 **rolf** (<@2>) was refused `/queue pause` in <#501>: channel of another server",
        "🚫 **rolf** (<@2>) was refused `/queue add` in <#501>: channel of another server",
    ]
    # The same command in guild B, by its moderator, is done.
    mine = bea_in(guild_b)
    await fx.invoke(two_guild_cog.pause, two_guild_cog, mine, b_news)
    assert fx.reply(mine)["content"] == ("⏸️ Paused <#501>: no scheduled posts until /queue resume.")


async def test_queue_list_of_every_channel_shows_only_this_guilds(
    two_guild_cog: Queue, ai: list[Article], guild: Any, guild_b: Any
) -> None:
    rolf = asked_by(fx.ROLF, guild)
    await fx.invoke(two_guild_cog.list_, two_guild_cog, rolf, None)
    names = [f["name"] for f in fx.reply(rolf)["embed"]["fields"]]
    assert names == ["#ai-news", "#daily-digest", "#reviewed"]
    bea = bea_in(guild_b)
    await fx.invoke(two_guild_cog.list_, two_guild_cog, bea, None)
    assert [f["name"] for f in fx.reply(bea)["embed"]["fields"]] == ["#b-news", "#b-reviewed"]


async def test_queue_autocomplete_answers_only_what_the_user_moderates(
    two_guild_cog: Queue, store: SQLiteStore, ai: list[Article], guild: Any, guild_b: Any
) -> None:
    ibm, model, _chips = ai
    await store.pin(fx.B_NEWS.id, model.id, None, fx.BEA[0])
    await store.pin(fx.AI.id, ibm.id, None, fx.MIA[0])
    # Autocomplete gets the chosen channel as a bare id.
    b_news = SimpleNamespace(channel=discord.Object(fx.B_NEWS.id))
    rolf = asked_by(fx.ROLF, guild)
    rolf.namespace = b_news
    assert await two_guild_cog._pinned(rolf, "") == []
    bea = bea_in(guild_b)
    bea.namespace = b_news
    assert [c.value for c in await two_guild_cog._pinned(bea, "")] == [model.id]
    rita = asked_by(fx.RITA, guild)
    rita.namespace = SimpleNamespace(channel=discord.Object(fx.AI.id))
    assert await two_guild_cog._pinned(rita, "") == []
    rita.namespace = SimpleNamespace()
    assert await two_guild_cog._pinned(rita, "") == []
    assert await two_guild_cog._articles(rita, "") == []
    assert await two_guild_cog._topics(rita, "A") == []
    mia = asked_by(fx.MIA, guild)
    mia.namespace = SimpleNamespace(channel=discord.Object(fx.AI.id))
    assert [c.value for c in await two_guild_cog._pinned(mia, "")] == [ibm.id]
    assert [c.value for c in await two_guild_cog._articles(mia, "chip")] == [ai[2].id]


async def test_submit_without_a_channel_queues_it_only_in_the_users_channels(
    two_guild_cog: Queue, store: SQLiteStore, ai: list[Article], guild: Any, guild_b: Any
) -> None:
    bea = bea_in(guild_b)
    await fx.invoke(
        two_guild_cog.submit,
        two_guild_cog,
        bea,
        "https://scoop.example/b",
        "Bea's scoop",
        None,
        "AI",
        100,
        None,
    )
    (scoop,), _ = await store.search("scoop")
    assert fx.reply(bea) == fx.text_reply(
        f"📝 Stored `{scoop.id}` **Bea's scoop** as a moderator-submitted story.\n"
        "It competes only in the queues of <#501>, <#502>."
    )
    for route in (fx.AI, fx.DIGEST):
        upcoming = await two_guild_cog.desk.deliverer.upcoming(route, 5)
        assert [i.article.id for i in upcoming] == [a.id for a in ai]
    upcoming = await two_guild_cog.desk.deliverer.upcoming(fx.B_NEWS, 5)
    assert [i.article.id for i in upcoming] == [scoop.id, *(a.id for a in ai)]
