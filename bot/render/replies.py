"""Replies to commands as embeds and text. Pure: no I/O, no event loop, no Views.

Every text that came from a file, a user or Discord is escaped (markdown, mentions), and
every length stays within Discord's limits. The cogs wrap these in messages and Views.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, assert_never

import discord

from bot.delivery.deliverer import Outcome
from bot.desk.approval import ReviewAction
from bot.desk.moderation import (
    LIST_CHANNELS,
    ChannelQueue,
    Decided,
    Explained,
    Pinned,
    Posted,
    QueueListing,
    QueueResult,
    Record,
    Regrouped,
    Result,
    Retried,
    RouteChanged,
    Skipped,
    Submitted,
    Unpinned,
    mention,
    mentions,
)
from bot.desk.stories import Latest, SearchResults, code
from bot.models import Article, quality_text
from bot.render.embeds import (
    DEFAULT_COLOUR,
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    escape_controls,
    link_text,
    summary_line,
    topic_colour,
    truncate,
)
from bot.store.records import Delivery, DeliveryState, QueueItem, count_text

T = TypeVar("T")

PAGE_SIZE = 10  # stories per page of results
TOPICS_PER_PAGE = 30
CHOICE_LIMIT = 25  # autocomplete choices and select options Discord takes
CHOICE_NAME_LIMIT = 100  # an autocomplete choice's name and value
OPTION_TEXT_LIMIT = 100  # a select option's label, value and description
FIELD_VALUE_LIMIT = 1024
EMBED_BUDGET = 5800  # all embeds of a message: 6,000, with room for title and footer
DESCRIPTION_BUDGET = DESCRIPTION_LIMIT - 96  # room for a header line above the list
MESSAGE_LIMIT = 2000
PAUSED_COLOUR = 0xE67E22
SORRY = "Something went wrong; the moderators can find details in the bot's log."


@dataclass(frozen=True, slots=True)
class Reply:
    content: str | None = None
    embed: discord.Embed | None = None


# --------------------------------------------------------------------------- text helpers


def text(value: str, limit: int) -> str:
    """``value`` escaped for markdown, on one line, within ``limit`` characters."""
    return link_text(value, limit)


def plain(value: str, limit: int) -> str:
    """Text for places Discord shows as-is (labels, choice names): one line, no mentions,
    control characters and bidi overrides escaped."""
    flat = escape_controls(discord.utils.escape_mentions(" ".join(value.split())))
    return truncate(flat, limit) or "…"


def literal(value: str, limit: int = 100) -> str:
    """``value`` as inline code (:func:`~bot.desk.stories.code`), bidi overrides escaped: code
    spans show markup literally, but a bidi override still reorders what follows it."""
    return code(escape_controls(value), limit)


def story_label(article: Article, limit: int = 80) -> str:
    """The story as `id` **Title** in a reply: the title escaped and cut to ``limit``."""
    return f"{literal(article.id, 32)} **{text(article.title or '(untitled)', limit)}**"


def article_choice_name(article_id: str, title: str) -> str:
    """An autocomplete choice: "j80stkmk · IBM will no longer…" (≤ 100 characters)."""
    return plain(f"{article_id} · {title}", CHOICE_NAME_LIMIT)


def topic_choice_name(name: str, count: int) -> str:
    suffix = f" ({count})"
    return plain(name, CHOICE_NAME_LIMIT - len(suffix)) + suffix


def paginate(
    items: Sequence[T],
    line: Callable[[int, T], str],
    per_page: int = PAGE_SIZE,
    budget: int = DESCRIPTION_BUDGET,
) -> list[list[str]]:
    """The lines of ``items`` in pages of at most ``per_page`` lines and ``budget`` chars."""
    pages: list[list[str]] = []
    page: list[str] = []
    used = 0
    for number, item in enumerate(items, 1):
        entry = line(number, item)
        if page and (len(page) >= per_page or used + len(entry) + 1 > budget):
            pages.append(page)
            page, used = [], 0
        page.append(entry)
        used += len(entry) + 1
    if page:
        pages.append(page)
    return pages


def _numbered(number: int, article: Article) -> str:
    return f"{number}. {summary_line(article)}"


# --------------------------------------------------------------------------- /search


@dataclass(frozen=True, slots=True)
class ResultPage:
    embed: discord.Embed
    articles: tuple[Article, ...]


def result_pages(results: SearchResults, colours: Mapping[str, int]) -> list[ResultPage]:
    """The search results as pages: numbered summary lines, at most 10 per page."""
    chunks = paginate(results.articles, _numbered)
    title = f"Stories about {results.topic}"
    if results.query:
        title += f" matching “{results.query}”"
    pages = []
    start = 0
    for number, lines in enumerate(chunks, 1):
        embed = discord.Embed(
            title=text(title, TITLE_LIMIT),
            description="\n".join(lines),
            colour=topic_colour(results.topic, colours),
        )
        shown = len(results.articles)
        embed.set_footer(
            text=f"Page {number}/{len(chunks)} · {shown} of {count_text(results.total)} "
            f"matching {'story' if results.total == 1 else 'stories'} · "
            "pick one below to read it in full"
        )
        pages.append(ResultPage(embed, results.articles[start : start + len(lines)]))
        start += len(lines)
    return pages


def story_options(articles: Sequence[Article]) -> list[discord.SelectOption]:
    """One select option per story on a page: its title, and id · provider · quality."""
    options = []
    for article in articles[:CHOICE_LIMIT]:
        details = " · ".join(
            p for p in (article.id, article.provider_name, quality_text(article.quality)) if p
        )
        options.append(
            discord.SelectOption(
                label=plain(article.title or article.id, OPTION_TEXT_LIMIT),
                value=article.id[:OPTION_TEXT_LIMIT],
                description=plain(details, OPTION_TEXT_LIMIT),
            )
        )
    return options


def no_results(results: SearchResults) -> str:
    if results.query:
        return f"No story about {literal(results.topic)} matches {literal(results.query)}."
    return f"There are no stories about {literal(results.topic)} yet."


# --------------------------------------------------------------------------- /topics, /latest


def topic_pages(topics: Sequence[tuple[str, int]]) -> list[discord.Embed]:
    """Every topic with its story count, most stories first, 30 per page."""
    ordered = sorted(topics, key=lambda t: (-t[1], t[0].casefold()))
    chunks = paginate(
        ordered,
        lambda _n, t: f"**{text(t[0], 100)}** · {t[1]} {'story' if t[1] == 1 else 'stories'}",
        per_page=TOPICS_PER_PAGE,
    )
    embeds = []
    for number, lines in enumerate(chunks, 1):
        embed = discord.Embed(title="Topics", description="\n".join(lines), colour=DEFAULT_COLOUR)
        embed.set_footer(text=f"Page {number}/{len(chunks)} · {len(ordered)} topics")
        embeds.append(embed)
    return embeds


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    """The link that opens a message in Discord."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def _posted_line(row: tuple[Article, Delivery], guild_id: int | None) -> str:
    article, delivery = row
    when = f" <t:{delivery.sent_ts}:R>" if delivery.sent_ts else ""
    posted = "posted"
    if guild_id is not None and delivery.message_id is not None:
        posted = f"[posted]({jump_url(guild_id, delivery.channel_id, delivery.message_id)})"
    return f"{summary_line(article)}\n↳ {posted}{when} in {mention(delivery.channel_id)}"


def latest_embed(
    latest: Latest, colours: Mapping[str, int], guild_id: int | None = None
) -> discord.Embed:
    """The most recently posted stories, newest first (one page), linked to their posts."""
    lines = (
        paginate(latest.stories, lambda _n, row: _posted_line(row, guild_id))[0]
        if latest.stories
        else []
    )
    title = f"Latest stories about {latest.topic}" if latest.topic else "Latest stories"
    embed = discord.Embed(
        title=text(title, TITLE_LIMIT),
        description="\n".join(lines),
        colour=topic_colour(latest.topic, colours) if latest.topic else DEFAULT_COLOUR,
    )
    return embed


def nothing_posted(latest: Latest) -> str:
    if latest.topic:
        return f"No story about {literal(latest.topic)} has been posted yet."
    return "No story has been posted yet."


# --------------------------------------------------------------------------- /queue list, why


def _status(queue: ChannelQueue) -> str:
    route, state = queue.route, queue.state
    parts = []
    if state.disabled:
        parts.append(f"**Disabled**: {text(state.disabled_reason or 'no reason', 200)}")
    if state.paused:
        parts.append(f"**Paused**: {text(state.pause_reason or 'by a moderator', 200)}")
    if route.digest is not None:
        parts.append(f"{route.schedule.describe()}, a digest of up to {route.digest.top}")
    else:
        parts.append(f"{route.schedule.describe()}, {route.per_run} per run")
    if route.approval:
        parts.append(
            f"{queue.in_review} waiting for review in {mention(route.review_channel or 0)}"
        )
    if queue.failed:
        parts.append(f"{queue.failed} failed (/queue retry)")
    return " · ".join(parts)


def _queue_line(number: int, item: QueueItem) -> str:
    pin = "📌 " if item.pinned else ""
    return f"{number}. {pin}{summary_line(item.article)}"


def _short_line(number: int, item: QueueItem) -> str:
    pin = "📌 " if item.pinned else ""
    return f"{number}. {pin}{story_label(item.article, 60)}"


def _empty_queue(queue: ChannelQueue) -> str:
    if queue.route.approval:
        return "Nothing approved or pinned is waiting."
    return "Nothing to post: no story matches this channel's filters."


def queue_embed(listing: QueueListing) -> discord.Embed:
    """One channel's queue in full, or a field per channel with its next few stories."""
    if len(listing.channels) == 1:
        queue = listing.channels[0]
        status = _status(queue)
        room = DESCRIPTION_LIMIT - len(status) - 2
        lines = paginate(queue.items, _queue_line, per_page=PAGE_SIZE, budget=room)
        body = "\n".join(lines[0]) if lines else _empty_queue(queue)
        embed = discord.Embed(
            title=text(f"Queue of #{queue.route.name}", TITLE_LIMIT),
            description=truncate(f"{status}\n\n{body}", DESCRIPTION_LIMIT),
            colour=PAUSED_COLOUR if queue.state.paused else DEFAULT_COLOUR,
        )
        embed.set_footer(text="📌 pinned by a moderator · posted in this order")
        return embed
    embed = discord.Embed(title="Newsdesk queues", colour=DEFAULT_COLOUR)
    if not listing.channels:
        embed.description = "No Newsdesk channel is configured."
        return embed
    shown = listing.channels[:LIST_CHANNELS]
    left_out = len(listing.channels) - len(shown) + listing.more
    names = [
        plain(f"#{q.route.name}" + (" (paused)" if q.state.paused else ""), 100) for q in shown
    ]
    room = min(FIELD_VALUE_LIMIT, (EMBED_BUDGET - sum(map(len, names))) // len(shown))
    for name, queue in zip(names, shown, strict=True):
        status = truncate(_status(queue), room // 2)
        lines = paginate(queue.items, _short_line, budget=room - len(status) - 1)
        value = f"{status}\n" + ("\n".join(lines[0]) if lines else _empty_queue(queue))
        embed.add_field(name=name, value=truncate(value, room), inline=False)
    if left_out:
        embed.set_footer(text=f"…and {left_out} more channels: pick one with channel:")
    return embed


def why_embed(result: Explained) -> discord.Embed:
    # A reason quotes feed text (topics, errors), whose markup shows literally, and may
    # name the review channel, which stays a live channel link.
    review = mention(result.route.review_channel or result.route.id)
    reasons = "\n".join(
        f"• {text(reason, 900).replace(text(review, 100), review)}" for reason in result.reasons
    )
    embed = discord.Embed(
        title=text(f"Why {result.article.id} is not posted in #{result.route.name}", TITLE_LIMIT),
        description=f"{summary_line(result.article)}\n\n{reasons}"[:DESCRIPTION_LIMIT],
        colour=DEFAULT_COLOUR,
    )
    return embed


# --------------------------------------------------------------------------- /queue changes


def _pinned_text(result: Pinned) -> str:
    where = mention(result.route.id)
    story = story_label(result.article)
    action = result.record.action if result.record else "queue.add"
    if action == "queue.add" and result.previous == result.position:
        line = (
            f"{story} is already pinned in {where}, "
            f"at position {result.position} of {result.length}."
        )
    elif action == "queue.move":
        line = f"↕️ Moved {story} to position {result.position} of {result.length} in {where}."
    else:
        line = f"📌 Pinned {story} in {where} at position {result.position} of {result.length}."
    if result.approved:
        line += "\nIt was waiting for review: pinning it approved it."
    if result.notes:
        notes = "; ".join(result.notes)
        line += (
            f"\nNote: it does not pass the channel's filters ({text(notes, 600)}); "
            "pinned stories are posted anyway."
        )
    return line


def _posted_text(result: Posted, guild_id: int | None) -> str:
    where = mention(result.route.id)
    release = result.release
    if release is None:
        if result.route.approval:
            review = mention(result.route.review_channel or 0)
            return (
                f"Nothing to post in {where}: no approved or pinned story is waiting. "
                f"Candidates go to {review} for approval."
            )
        return f"Nothing to post in {where}: no story matches its filters right now."
    story = (
        story_label(result.article) if result.article is not None else literal(release.article_id)
    )
    error = literal(release.error or "unknown error", 300)
    match release.outcome:
        case Outcome.SENT | Outcome.RECORDED:
            line = f"📰 Posted {story} in {where}."
            if guild_id is not None and release.message_id is not None:
                link = jump_url(guild_id, result.route.id, release.message_id)
                line = f"📰 Posted {story} in {where}: [open the post]({link})."
            if result.paused:
                line += " The channel stays paused; /queue resume restarts its schedule."
            return line
        case Outcome.FAILED:
            return (
                f"Discord refused {story} in {where}: {error}. It is marked failed; "
                "/queue retry puts it back."
            )
        case Outcome.DEFERRED:
            return (
                f"Could not post in {where}: {error}. The story stays queued; the channel "
                "was paused or disabled. Fix the channel, then /queue resume."
            )
        case Outcome.UNAVAILABLE:
            return (
                f"Discord did not take {story} in {where}: {error}. It stays queued; the "
                "channel's next run tries again, or /queue post once Discord is back."
            )
        case _:
            return f"{story} was taken by another run meanwhile; nothing else was posted."


def moderation_reply(result: QueueResult, guild_id: int | None = None) -> Reply:
    """The answer to a /queue command in guild ``guild_id`` (for links to posts)."""
    match result:
        case QueueListing():
            return Reply(embed=queue_embed(result))
        case Explained():
            return Reply(embed=why_embed(result))
        case Pinned():
            return Reply(_pinned_text(result))
        case Unpinned():
            return Reply(
                f"Unpinned {story_label(result.article)} from {mention(result.route.id)}. "
                "It may still come up by rank; /queue skip keeps it out for good."
            )
        case Regrouped() if result.lead is None:
            return Reply(
                f"✂️ Split {story_label(result.article)} from its event "
                f"({', '.join(code(i) for i in result.others)}): it is posted on its own, "
                "and no load merges them again."
            )
        case Regrouped():
            return Reply(
                f"🔗 Merged {story_label(result.article)} with {code(result.others[0])}: one "
                f"event, posted once in each channel as {code(result.lead or result.article.id)}."
            )
        case Skipped():
            line = (
                f"⏭️ Skipped {story_label(result.article)}: it will not be posted in "
                f"{mention(result.route.id)}."
            )
            if result.previous is DeliveryState.SENDING:
                line += " Its last send was cut short: if it reached the channel, it stays there."
            return Reply(line)
        case Posted():
            return Reply(_posted_text(result, guild_id))
        case RouteChanged() if result.state.paused:
            return Reply(
                f"⏸️ Paused {mention(result.route.id)}: no scheduled posts until /queue resume."
            )
        case RouteChanged():
            line = f"▶️ Resumed {mention(result.route.id)}: posts follow its schedule again."
            if result.state.disabled:
                line += " It is still disabled, though: fix its channel id and restart the bot."
            return Reply(line)
        case Retried() if result.count:
            stories = "story" if result.count == 1 else "stories"
            return Reply(
                f"🔁 Put {result.count} failed {stories} back in the queue of "
                f"{mention(result.route.id)}."
            )
        case Retried():
            return Reply(f"No failed stories in {mention(result.route.id)}.")
        case Submitted():
            story = story_label(result.article)
            line = (
                f"📝 Stored {story} as a moderator-submitted story."
                if result.created
                else f"That link is already stored as {story}."
            )
            if result.channels is not None:
                where = mentions(result.channels)
                line += (
                    f"\nIt competes only in the queues of {where}."
                    if where
                    else "\nNo channel's queue ranks it; pin it to post it."
                )
            if result.pinned is not None:
                line += "\n" + _pinned_text(result.pinned)
            if result.warnings:
                line += "\nWarnings: " + "; ".join(literal(w, 200) for w in result.warnings[:5])
            return Reply(line[:MESSAGE_LIMIT])
        case _:
            assert_never(result)


def decision_text(result: Decided) -> str:
    """The review message once decided (mentions render as names and never ping)."""
    who = f"<@{result.delivery.decided_by}>" if result.delivery.decided_by else "a moderator"
    where = mention(result.route.id)
    if result.action == ReviewAction.APPROVE:
        return f"✅ Approved by {who}: it will be posted in {where} on the channel's schedule."
    return f"❌ Rejected by {who}: it will not be posted in {where}."


def review_request_text(channel_id: int) -> str:
    return f"🗳️ Review: should this story be posted in {mention(channel_id)}?"


_COMMANDS = {
    "review.approve": "the Approve button",
    "review.reject": "the Reject button",
}


def mod_log_line(record: Record) -> str:
    """One moderator action for the mod-log channel."""
    command = _COMMANDS.get(record.action, f"`/{record.action.replace('.', ' ')}`")
    who = f"**{text(record.actor_name, 100)}** (<@{record.actor_id}>)"
    where = f" in {mention(record.channel_id)}" if record.channel_id else ""
    story = f" on {literal(record.article_id, 32)}" if record.article_id else ""
    detail = text(record.detail or "", 1500)
    if record.result is Result.REFUSED:
        return f"🚫 {who} was refused {command}{where}: {detail}"[:MESSAGE_LIMIT]
    outcome = "failed: " if record.result is Result.FAILED else ""
    return f"{who} used {command}{where}{story}: {outcome}{detail}"[:MESSAGE_LIMIT]
