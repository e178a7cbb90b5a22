"""Moderator actions: the core behind the /queue commands and the review buttons.

Free of discord.py. A cog turns an interaction into an :class:`Actor` and plain arguments,
calls one method of :class:`Moderation`, and renders what comes back. Every method

- checks the actor's rights first: the Manage Messages permission in the channel
  concerned, or one of the configured ``moderator_roles``, and either only in a channel
  of the guild the actor acts in (Discord's command permissions can be changed by any
  guild admin, so the check is repeated here, on every call);
- writes exactly one audit entry (who, what, when, result), refusals and errors included;
- returns a plain result carrying that entry as a :class:`Record`, or raises
  :class:`ModerationError` (also carrying it) whose ``message`` is polite and safe to show
  as it is: text from users, files or Discord is quoted in code spans.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import TracebackType
from typing import TypeAlias
from urllib.parse import urlsplit

from bot.config.settings import Route, Settings
from bot.curation.ranking import explain, filter_reasons
from bot.delivery.deliverer import Deliverer, Outcome, Release, current_filter
from bot.desk.approval import ReviewAction
from bot.desk.stories import StoryError, code, find_article
from bot.ingest.frontmatter import ArticleError
from bot.ingest.parsing import article_from_mapping
from bot.ingest.urls import is_http_url
from bot.models import Article, topic_keys
from bot.store.base import Store
from bot.store.records import Delivery, DeliveryState, QueueItem, RouteState

log = logging.getLogger(__name__)

LIST_LIMIT = 10  # stories shown for one channel
LIST_LIMIT_ALL = 5  # stories shown per channel when listing every channel
LIST_CHANNELS = 25  # channels listed at once (an embed's fields)
WHY_DEPTH = 50  # how far down the queue /queue why looks for the story's position
MAX_SUBMIT_TOPICS = 10
# explain()'s last resort; on an approval route it means "not offered for review yet".
_OUTRANKED = "it is eligible but other stories rank above it"


class Result(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # the actor lacks the rights; nothing changed
    ERROR = "error"  # the request cannot be done (unknown story, wrong state…)
    FAILED = "failed"  # tried, and Discord refused (posting now)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, as the cog saw them in Discord."""

    id: int
    name: str
    role_ids: frozenset[int] = frozenset()
    manages: frozenset[int] = frozenset()  # channel ids where they have Manage Messages
    # The channels of the guild they act in (the interaction's) that the bot knows: rights
    # count only there, so a moderator role of one guild gives none in another's channels.
    guild_channels: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Record:
    """The audit entry one action wrote; the mod-log line is rendered from it."""

    action: str  # e.g. "queue.skip", "review.approve"
    result: Result
    actor_id: int
    actor_name: str
    channel_id: int | None
    article_id: str | None
    detail: str | None
    echo: bool  # worth telling the mod-log channel (changes and refusals)


class ModerationError(Exception):
    """An action that was not done; ``message`` is for the user who asked."""

    result = Result.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.record: Record | None = None  # set once the refusal or error is audited


class Refused(ModerationError):
    result = Result.REFUSED


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ChannelQueue:
    route: Route
    state: RouteState
    items: tuple[QueueItem, ...]  # the next stories, in posting order
    in_review: int  # approval routes: stories waiting for a decision
    failed: int


@dataclass(frozen=True, slots=True)
class QueueListing:
    channels: tuple[ChannelQueue, ...]
    record: Record | None = None
    more: int = 0  # channels left out: an embed shows LIST_CHANNELS at most


@dataclass(frozen=True, slots=True)
class Pinned:
    article: Article
    route: Route
    position: int  # 1-based, in the channel's pinned stories
    length: int  # pinned stories in the channel now
    previous: int | None  # its position before, when it was pinned already
    approved: bool  # it was waiting for review, and pinning approved it
    notes: tuple[str, ...]  # the channel's filters it does not pass (pins go out anyway)
    record: Record | None = None


@dataclass(frozen=True, slots=True)
class Unpinned:
    article: Article
    route: Route
    record: Record | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    article: Article
    route: Route
    previous: DeliveryState | None
    unpinned: bool
    record: Record | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    route: Route
    release: Release | None  # None: nothing to post
    article: Article | None
    paused: bool  # posted although the channel is paused
    record: Record | None = None


@dataclass(frozen=True, slots=True)
class RouteChanged:
    route: Route
    state: RouteState
    record: Record | None = None


@dataclass(frozen=True, slots=True)
class Retried:
    route: Route
    count: int
    record: Record | None = None


@dataclass(frozen=True, slots=True)
class Explained:
    article: Article
    route: Route
    reasons: tuple[str, ...]
    record: Record | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    article: Article
    created: bool  # False: the URL was known already; the stored story is returned
    warnings: tuple[str, ...]
    pinned: Pinned | None
    record: Record | None = None
    # The channels whose queues rank it (the submitters'); None: a story from a file,
    # which every channel ranks.
    channels: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Decided:
    article: Article
    route: Route
    action: ReviewAction
    delivery: Delivery
    record: Record | None = None


# What a /queue command gets back from the desk, each answered by
# bot.render.replies.moderation_reply, which mypy checks covers them all. A review decision
# (Decided) is not one: it edits the review message instead.
@dataclass(frozen=True, slots=True)
class Regrouped:
    """A moderator split a story from its event, or merged two stories' events."""

    article: Article
    route: Route
    others: tuple[str, ...]  # split: the stories it was split from; merge: the other
    lead: str | None  # merge: the event's lead
    record: Record | None = None


QueueResult: TypeAlias = (
    QueueListing
    | Regrouped
    | Explained
    | Pinned
    | Unpinned
    | Skipped
    | Posted
    | RouteChanged
    | Retried
    | Submitted
)


# --------------------------------------------------------------------------- the desk


def mention(channel_id: int) -> str:
    """A channel mention: Discord shows it as #name, and it never pings."""
    return f"<#{channel_id}>"


def mentions(channel_ids: Sequence[int], most: int = 10) -> str:
    """Channel mentions separated by commas, the first ``most`` of them and a count."""
    text = ", ".join(mention(c) for c in channel_ids[:most])
    if len(channel_ids) > most:
        text += f" and {len(channel_ids) - most} more"
    return text


class _Action:
    """One audited action: checks the rights on entry, writes one audit entry."""

    def __init__(
        self,
        desk: Moderation,
        actor: Actor,
        action: str,
        channel_id: int | None,
        *,
        changes: bool,
        article_id: str | None = None,
    ) -> None:
        self.desk, self.actor, self.action = desk, actor, action
        self.channel_id, self.changes, self.article_id = channel_id, changes, article_id
        self.record: Record | None = None

    async def __aenter__(self) -> _Action:
        if not self.desk.allowed(self.actor, self.channel_id):
            if self.channel_id is not None and self.channel_id not in self.actor.guild_channels:
                refusal = Refused(
                    f"Sorry, {mention(self.channel_id)} is not a channel of this server: "
                    "moderators act only on the channels of the server they use the command in."
                )
                refusal.record = await self._write(Result.REFUSED, "channel of another server")
                raise refusal
            where = (
                f"in {mention(self.channel_id)}"
                if self.channel_id is not None
                else "in a Newsdesk channel of this server"
            )
            refusal = Refused(
                "Sorry, only moderators can do that: it needs the Manage Messages permission "
                f"{where}, or a moderator role."
            )
            refusal.record = await self._write(Result.REFUSED, "not a moderator here")
            raise refusal
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.record is not None:
            return
        if isinstance(exc, ModerationError):
            if exc.record is None:
                exc.record = await self._write(exc.result, exc.message)
        elif isinstance(exc, Exception):
            try:  # keep the original error: it is the one worth logging
                await self._write(Result.ERROR, f"internal error ({type(exc).__name__})")
            except Exception:
                log.warning("could not audit the failed %s", self.action, exc_info=True)
        elif exc is None:
            await self.finish()

    async def finish(
        self,
        detail: str | None = None,
        *,
        result: Result = Result.OK,
        article_id: str | None = None,
    ) -> Record:
        if article_id is not None:
            self.article_id = article_id
        self.record = await self._write(result, detail)
        return self.record

    async def _write(self, result: Result, detail: str | None) -> Record:
        record = Record(
            action=self.action,
            result=result,
            actor_id=self.actor.id,
            actor_name=self.actor.name,
            channel_id=self.channel_id,
            article_id=self.article_id,
            detail=detail,
            echo=result is Result.REFUSED or (self.changes and result is not Result.ERROR),
        )
        await self.desk.store.audit(
            record.action,
            record.result.value,
            actor_id=record.actor_id,
            actor_name=record.actor_name,
            channel_id=record.channel_id,
            article_id=record.article_id,
            detail=record.detail,
        )
        return record


class Moderation:
    """The moderators' desk over one store, its settings and the deliverer."""

    def __init__(self, store: Store, settings: Settings, deliverer: Deliverer) -> None:
        self.store, self.settings, self.deliverer = store, settings, deliverer

    # ------------------------------------------------------------------ rights and lookups

    def allowed(self, actor: Actor, channel_id: int | None) -> bool:
        """Manage Messages in that channel, or a moderator role; either only for a
        channel of the guild the actor acts in.

        Without a channel (listing every queue, submitting without pinning), the rights in
        one configured channel are enough; what is done then covers only
        :meth:`moderated`.
        """
        if channel_id is None:
            return bool(self.moderated(actor))
        if channel_id not in actor.guild_channels:
            return False
        return channel_id in actor.manages or bool(
            actor.role_ids & set(self.settings.moderator_roles)
        )

    def moderated(self, actor: Actor) -> list[Route]:
        """The configured channels the actor moderates, in config order."""
        return [r for r in self.settings.channels if self.allowed(actor, r.id)]

    def _action(
        self,
        actor: Actor,
        action: str,
        channel_id: int | None,
        *,
        changes: bool = True,
        article_id: str | None = None,
    ) -> _Action:
        return _Action(self, actor, action, channel_id, changes=changes, article_id=article_id)

    def route(self, channel_id: int) -> Route:
        for route in self.settings.channels:
            if route.id == channel_id:
                return route
        configured = mentions([r.id for r in self.settings.channels])
        raise ModerationError(
            f"{mention(channel_id)} is not a Newsdesk channel; configured: "
            f"{configured or 'none yet (see config/newsdesk.yaml)'}."
        )

    async def _article(self, act: _Action, text: str) -> Article:
        try:
            article = await find_article(self.store, text)
        except StoryError as exc:
            raise ModerationError(exc.message) from None
        act.article_id = article.id
        return article

    # ------------------------------------------------------------------ reading

    async def list_queue(self, actor: Actor, channel_id: int | None = None) -> QueueListing:
        """The next stories of one channel, or of every channel the actor moderates."""
        async with self._action(actor, "queue.list", channel_id, changes=False) as act:
            if channel_id is not None:
                routes = [self.route(channel_id)]
                limit = LIST_LIMIT
            else:
                routes = self.moderated(actor)
                limit = LIST_LIMIT_ALL
            shown = routes[:LIST_CHANNELS]  # the others are only counted
            channels = tuple([await self._channel_queue(route, limit) for route in shown])
            record = await act.finish(f"{len(routes)} channel(s)")
            return QueueListing(channels, record, more=len(routes) - len(shown))

    async def _channel_queue(self, route: Route, limit: int) -> ChannelQueue:
        review = await self.store.deliveries(route.id, (DeliveryState.REVIEW,))
        failed = await self.store.deliveries(route.id, (DeliveryState.FAILED,))
        return ChannelQueue(
            route=route,
            state=await self.store.route_state(route.id),
            items=tuple(await self.deliverer.upcoming(route, limit)),
            in_review=len(review),
            failed=len(failed),
        )

    async def why(self, actor: Actor, article: str, channel_id: int) -> Explained:
        """Every reason a story has not been posted to a channel, most decisive first."""
        async with self._action(actor, "queue.why", channel_id, changes=False) as act:
            route = self.route(channel_id)
            story = await self._article(act, article)
            delivery = await self.store.delivery(story.id, route.id)
            state = await self.store.route_state(route.id)
            upcoming = await self.deliverer.upcoming(route, WHY_DEPTH)
            position = next(
                (n for n, item in enumerate(upcoming, 1) if item.article.id == story.id), None
            )
            first_seen = await self.store.first_seen_ts(story.id)
            only = await self.store.submitted_for(story.id)
            flt = await current_filter(self.store, route, self.deliverer.clock())
            event = await self.store.event_of(story.id)
            merged_into = event[0] if event and event[0] != story.id else None
            taken = None
            for other in event:
                found = await self.store.delivery(other, route.id) if other != story.id else None
                if found is not None and found.state is not DeliveryState.PENDING:
                    taken = found
                    break
            reasons = explain(
                story, flt, delivery, state, position, first_seen, only, merged_into, taken
            )
            if route.approval and delivery is None and position is None:
                reasons = [r for r in reasons if r != _OUTRANKED]
                if not filter_reasons(story, flt, first_seen, only):
                    reasons.append(
                        "stories here are posted only once a moderator approves them in "
                        f"{mention(route.review_channel or route.id)}, and it has not been "
                        "offered for review yet"
                    )
            return Explained(story, route, tuple(reasons), await act.finish(reasons[0]))

    # ------------------------------------------------------------------ the pinned queue

    async def add(
        self, actor: Actor, article: str, channel_id: int, position: int | None = None
    ) -> Pinned:
        """Pin a story to a channel's queue: pinned stories go first, in their order."""
        async with self._action(actor, "queue.add", channel_id) as act:
            route = self.route(channel_id)
            story = await self._article(act, article)
            pinned = await self._pin(actor, route, story, position)
            detail = (
                f"already pinned at position {pinned.position}"
                if pinned.previous == pinned.position and position is None
                else f"pinned at position {pinned.position} of {pinned.length}"
            )
            return _with(pinned, await act.finish(detail))

    async def move(self, actor: Actor, article: str, channel_id: int, position: int) -> Pinned:
        """Put a story at ``position`` among the channel's pinned stories (pinning it)."""
        async with self._action(actor, "queue.move", channel_id) as act:
            route = self.route(channel_id)
            story = await self._article(act, article)
            pinned = await self._pin(actor, route, story, position)
            before = f"from position {pinned.previous}" if pinned.previous else "from the queue"
            detail = f"moved {before} to position {pinned.position} of {pinned.length}"
            return _with(pinned, await act.finish(detail))

    async def remove(self, actor: Actor, article: str, channel_id: int) -> Unpinned:
        """Unpin a story from a channel's queue (it may still come up by rank)."""
        async with self._action(actor, "queue.remove", channel_id) as act:
            route = self.route(channel_id)
            story = await self._article(act, article)
            if not await self.store.unpin(route.id, story.id):
                raise ModerationError(
                    f"{code(story.id)} is not pinned in {mention(route.id)}. "
                    "To keep it from being posted there, use /queue skip."
                )
            return Unpinned(story, route, await act.finish("unpinned"))

    async def _pin(
        self, actor: Actor, route: Route, article: Article, position: int | None
    ) -> Pinned:
        delivery = await self.store.delivery(article.id, route.id)
        self._check_open(article, route, delivery)
        approved = False
        if delivery is not None and delivery.state is DeliveryState.REVIEW:
            approved = (
                await self.store.set_delivery(
                    article.id,
                    route.id,
                    DeliveryState.APPROVED,
                    expect=(DeliveryState.REVIEW,),
                    decided_by=actor.id,
                )
                is not None
            )
        pins = await self.store.pins(route.id)
        previous = pins.index(article.id) + 1 if article.id in pins else None
        if previous is not None and position is None:
            placed, length = previous, len(pins)
        else:
            placed = await self.store.pin(route.id, article.id, position, actor.id)
            length = len(pins) + (previous is None)
        first_seen = await self.store.first_seen_ts(article.id)
        only = await self.store.submitted_for(article.id)
        flt = await current_filter(self.store, route, self.deliverer.clock())
        notes = filter_reasons(article, flt, first_seen, only)
        return Pinned(article, route, placed, length, previous, approved, tuple(notes))

    @staticmethod
    def _check_open(article: Article, route: Route, delivery: Delivery | None) -> None:
        """Refuse to queue a story that is done for the channel, or in flight."""
        if delivery is None:
            return
        story, where = code(article.id), mention(route.id)
        match delivery.state:
            case DeliveryState.SENT:
                raise ModerationError(f"{story} was already posted in {where}.")
            case DeliveryState.SKIPPED:
                raise ModerationError(
                    f"{story} was skipped for {where}; a skipped story does not come back."
                )
            case DeliveryState.FAILED:
                raise ModerationError(
                    f"Posting {story} in {where} failed ({code(delivery.last_error or '?')}). "
                    "/queue retry puts the channel's failed stories back."
                )
            case DeliveryState.SENDING:
                raise ModerationError(f"{story} is being posted in {where} right now.")

    async def split(self, actor: Actor, article: str, channel_id: int) -> Regrouped:
        """Take a story out of the event it was merged into, for good (every channel)."""
        async with self._action(actor, "queue.split", channel_id) as act:
            route = self.route(channel_id)
            story = await self._article(act, article)
            others = await self.store.split_event(story.id)
            if not others:
                raise ModerationError(
                    f"{code(story.id)} is not merged with another story: nothing to split."
                )
            detail = f"split from {', '.join(others)}"
            return Regrouped(story, route, tuple(others), None, await act.finish(detail))

    async def merge(self, actor: Actor, article: str, other: str, channel_id: int) -> Regrouped:
        """Make two stories one event, for good (every channel): posted once, under the
        best-ranked story."""
        async with self._action(actor, "queue.merge", channel_id) as act:
            route = self.route(channel_id)
            story = await self._article(act, article)
            try:
                second = await find_article(self.store, other)
            except StoryError as exc:
                raise ModerationError(exc.message) from None
            if second.id == story.id:
                raise ModerationError(f"{code(story.id)} is one story: name two to merge.")
            lead = await self.store.merge_events(story.id, second.id)
            detail = f"merged with {second.id}, led by {lead}"
            return Regrouped(story, route, (second.id,), lead, await act.finish(detail))

    async def skip(self, actor: Actor, article: str, channel_id: int) -> Skipped:
        """Never post this story in this channel."""
        async with self._action(actor, "queue.skip", channel_id) as act:
            route = self.route(channel_id)
            story = await self._article(act, article)
            delivery = await self.store.delivery(story.id, route.id)
            previous = delivery.state if delivery else None
            if previous is DeliveryState.SKIPPED:
                raise ModerationError(
                    f"{code(story.id)} is already skipped for {mention(route.id)}."
                )
            lock = self.deliverer.lock(route.id)
            # 'sending' with no run in progress: a send cut short (a crash, then a pause)
            # that the route's next run would settle; a moderator may skip it instead.
            cut_short = previous is DeliveryState.SENDING and not lock.locked()
            if previous is DeliveryState.SENT or (
                previous is DeliveryState.SENDING and not cut_short
            ):
                self._check_open(story, route, delivery)
            expect = (
                DeliveryState.PENDING,
                DeliveryState.REVIEW,
                DeliveryState.APPROVED,
                DeliveryState.FAILED,
            )
            async with lock if cut_short else contextlib.nullcontext():  # no run meanwhile
                changed = await self.store.set_delivery(
                    story.id,
                    route.id,
                    DeliveryState.SKIPPED,
                    expect=(*expect, DeliveryState.SENDING) if cut_short else expect,
                    decided_by=actor.id,
                    error=f"by {actor.name}",
                )
            if changed is None:
                raise ModerationError(
                    f"{code(story.id)} changed state in {mention(route.id)} meanwhile; try again."
                )
            unpinned = await self.store.unpin(route.id, story.id)
            return Skipped(story, route, previous, unpinned, await act.finish("skipped"))

    # ------------------------------------------------------------------ the channel

    async def post_now(self, actor: Actor, channel_id: int) -> Posted:
        """Release the channel's next story now, outside its schedule."""
        async with self._action(actor, "queue.post", channel_id) as act:
            route = self.route(channel_id)
            state = await self.store.route_state(route.id)
            if state.disabled:
                raise ModerationError(
                    f"{mention(route.id)} is disabled ({code(state.disabled_reason or '?')}). "
                    "Fix the channel id in the config and restart the bot."
                )
            releases = await self.deliverer.release(route, 1)
            if not releases:
                return Posted(route, None, None, state.paused, await act.finish("nothing to post"))
            release = releases[0]
            story = await self.store.get_article(release.article_id)
            match release.outcome:
                case Outcome.SENT | Outcome.RECORDED:
                    detail, result = f"posted (message {release.message_id})", Result.OK
                case Outcome.SKIPPED:
                    detail, result = "taken by another run meanwhile", Result.OK
                case _:
                    detail, result = f"not posted: {release.error}", Result.FAILED
            record = await act.finish(detail, result=result, article_id=release.article_id)
            return Posted(route, release, story, state.paused, record)

    async def pause(self, actor: Actor, channel_id: int) -> RouteChanged:
        """Stop the channel's scheduled posts until /queue resume."""
        async with self._action(actor, "queue.pause", channel_id) as act:
            route = self.route(channel_id)
            state = await self.store.route_state(route.id)
            if state.paused:
                raise ModerationError(
                    f"{mention(route.id)} is already paused "
                    f"({code(state.pause_reason or 'no reason')})."
                )
            paused = RouteState(
                route.id, True, f"paused by {actor.name}", state.disabled, state.disabled_reason
            )
            await self.store.set_route_state(paused)
            return RouteChanged(route, paused, await act.finish("paused"))

    async def resume(self, actor: Actor, channel_id: int) -> RouteChanged:
        """Restart the channel's scheduled posts (after a pause, or after Discord answered
        404 for the channel and its id has been fixed)."""
        async with self._action(actor, "queue.resume", channel_id) as act:
            route = self.route(channel_id)
            state = await self.store.route_state(route.id)
            if not (state.paused or state.disabled):
                raise ModerationError(f"{mention(route.id)} is not paused.")
            resumed = RouteState(route.id, False, None, False, None)
            await self.store.set_route_state(resumed)
            was = [state.pause_reason or "paused"] if state.paused else []
            if state.disabled:
                was.append(f"disabled: {state.disabled_reason or 'unknown channel'}")
            detail = f"resumed (was {'; '.join(was)})"
            return RouteChanged(route, resumed, await act.finish(detail))

    async def retry(self, actor: Actor, channel_id: int) -> Retried:
        """Put the channel's failed stories back in its queue."""
        async with self._action(actor, "queue.retry", channel_id) as act:
            route = self.route(channel_id)
            count = await self.store.retry_failed(route.id)
            return Retried(route, count, await act.finish(f"{count} failed back to pending"))

    # ------------------------------------------------------------------ new stories

    async def submit(
        self,
        actor: Actor,
        url: str,
        title: str,
        excerpt: str | None = None,
        topics: str | None = None,
        quality: int | None = None,
        channel_id: int | None = None,
    ) -> Submitted:
        """Store a story that is not in the seed files; pin it to ``channel_id`` if given.

        The story is ranked only in the channels the moderator may post in: ``channel_id``,
        or without it every configured channel of their guild that they moderate. A
        moderator can so never cause a post in a channel they do not moderate.
        """
        async with self._action(actor, "queue.submit", channel_id) as act:
            route = self.route(channel_id) if channel_id is not None else None
            scope = [route] if route is not None else self.moderated(actor)
            link = url.strip()
            if not is_http_url(link):
                raise ModerationError(
                    "Only web links can be submitted: the URL must start with http:// or "
                    "https:// and name a host."
                )
            host = (urlsplit(link).hostname or "").removeprefix("www.")
            data: dict[str, object] = {
                "title": title,
                "webUrl": link,
                "excerpt": excerpt or "",
                "topics": _split_topics(topics),
                "provider": {"name": host, "domain": host},
            }
            if quality is not None:
                data["quality"] = quality
            try:
                parsed = article_from_mapping(data, source="moderator")
            except ArticleError as exc:
                raise ModerationError(f"That story cannot be stored: {code(str(exc))}.") from None
            story, created = await self.store.add_article(parsed, [r.id for r in scope])
            act.article_id = story.id
            pinned = await self._pin(actor, route, story, None) if route is not None else None
            limited = await self.store.submitted_for(story.id)
            order = {r.id: n for n, r in enumerate(self.settings.channels)}
            channels = (
                None
                if limited is None
                else tuple(sorted(limited, key=lambda c: (order.get(c, len(order)), c)))
            )
            detail = "submitted" if created else "already known"
            if channels is not None:
                detail += f" for {mentions(channels) or 'no channel'}"
            if pinned is not None:
                detail += f"; pinned at position {pinned.position} of {pinned.length}"
            record = await act.finish(detail)
            warnings = parsed.warnings if created else ()
            return Submitted(story, created, warnings, pinned, record, channels)

    # ------------------------------------------------------------------ approval

    async def decide(
        self, actor: Actor, action: ReviewAction, article_id: str, channel_id: int
    ) -> Decided:
        """Approve or reject a story waiting for review (a click on a review button)."""
        name = f"review.{ReviewAction(action).value}"
        async with self._action(actor, name, channel_id, article_id=article_id) as act:
            route = self.route(channel_id)
            story = await self.store.get_article(article_id)
            if story is None:
                raise ModerationError(f"The story {code(article_id)} is no longer stored.")
            approve = action == ReviewAction.APPROVE
            decided = await self.store.set_delivery(
                story.id,
                route.id,
                DeliveryState.APPROVED if approve else DeliveryState.SKIPPED,
                expect=(DeliveryState.REVIEW,),
                decided_by=actor.id,
                error=None if approve else f"rejected by {actor.name}",
            )
            if decided is None:
                current = await self.store.delivery(story.id, route.id)
                raise ModerationError(
                    f"{code(story.id)} is not waiting for review any more: {_state_text(current)}."
                )
            if not approve:
                await self.store.unpin(route.id, story.id)
            record = await act.finish("approved" if approve else "rejected")
            return Decided(story, route, ReviewAction(action), decided, record)


def _with(pinned: Pinned, record: Record) -> Pinned:
    return replace(pinned, record=record)


def _split_topics(text: str | None) -> list[str]:
    if not text:
        return []
    parts = (" ".join(part.split()) for part in text.split(","))
    return list(topic_keys(p for p in parts if p).values())[:MAX_SUBMIT_TOPICS]


def _state_text(delivery: Delivery | None) -> str:
    match delivery.state if delivery else None:
        case DeliveryState.APPROVED | DeliveryState.PENDING:
            return "it was approved"
        case DeliveryState.SKIPPED:
            return "it was rejected or skipped"
        case DeliveryState.SENT:
            return "it was posted"
        case DeliveryState.SENDING:
            return "it is being posted"
        case DeliveryState.FAILED:
            return "posting it failed"
        case _:
            return "it is not in review"
