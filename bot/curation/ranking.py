"""Which stories a channel takes, and in what order. Pure functions, no I/O.

The store runs the same rules in SQL for speed; tests hold the two to the same answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config.settings import Route
from bot.models import UNKNOWN_QUALITY, Article, topic_key
from bot.store.records import Delivery, DeliveryState, RouteFilter, RouteState


def route_filter(route: Route, now: datetime) -> RouteFilter:
    """The filter of ``route`` at ``now`` (max_age_days becomes a fixed cut-off)."""
    cutoff = None
    if route.max_age_days is not None:
        cutoff = int((now - timedelta(days=route.max_age_days)).timestamp())
    return RouteFilter(
        channel_id=route.id,
        topics=tuple(topic_key(t) for t in route.topics),
        exclude_topics=tuple(topic_key(t) for t in route.exclude_topics),
        min_quality=route.min_quality,
        min_published_ts=cutoff,
        require_quality=route.require_quality,
        include_published=route.include_published,
        include_words=route.include_words,
        exclude_words=route.exclude_words,
        providers=route.providers,
        exclude_providers=route.exclude_providers,
    )


def _seconds(moment: datetime) -> int:
    """Whole Unix seconds, the resolution at which the store keeps and compares times."""
    return int(moment.timestamp())


def rank_key(
    article: Article, unknown_quality: int = UNKNOWN_QUALITY
) -> tuple[int, int, float, str]:
    """Sort key: quality desc (an unknown one as ``unknown_quality``), heat desc, newest
    first (unknown time last), then id."""
    published = _seconds(article.published_at) if article.published_at else float("-inf")
    quality = unknown_quality if article.quality is None else article.quality
    return (-quality, -article.heat, -published, article.id)


def rank(articles: list[Article], unknown_quality: int = UNKNOWN_QUALITY) -> list[Article]:
    return sorted(articles, key=lambda article: rank_key(article, unknown_quality))


def filter_reasons(
    article: Article,
    flt: RouteFilter,
    first_seen_ts: int | None = None,
    submitted_for: frozenset[int] | None = None,
) -> list[str]:
    """Why ``article`` does not pass the channel's filter (empty: it passes).

    ``submitted_for``: the only channels that rank it, when a moderator submitted it
    (Store.submitted_for); None when every channel may.
    """
    reasons = []
    keys = {topic_key(t) for t in article.topics}
    if article.published and not flt.include_published:
        reasons.append("it was already published elsewhere (published: true in its file)")
    if submitted_for is not None and flt.channel_id not in submitted_for:
        where = ", ".join(f"<#{c}>" for c in sorted(submitted_for)[:10])
        reasons.append(
            f"a moderator submitted it for other channels only ({where})"
            if where
            else "a moderator submitted it, and no channel's queue ranks it (a pin posts it)"
        )
    if flt.topics and not keys & set(flt.topics):
        reasons.append(
            f"none of its topics ({', '.join(article.topics) or 'none'}) is one of "
            f"the channel's ({', '.join(flt.topics)})"
        )
    excluded = [t for t in article.topics if topic_key(t) in flt.exclude_topics]
    if excluded:
        reasons.append(f"its topic {', '.join(excluded)} is excluded in this channel")
    if article.quality is None:
        if flt.require_quality:
            reasons.append("its quality is unknown, and the channel sets require_quality")
    elif article.quality < flt.min_quality:
        reasons.append(
            f"its quality {article.quality} is below the channel's minimum {flt.min_quality}"
        )
    screened = flt.screen(article)
    if screened is not None:
        reasons.append(screened)
    if flt.min_published_ts is not None:
        when = _seconds(article.published_at) if article.published_at else first_seen_ts
        if when is not None and when < flt.min_published_ts:
            reasons.append("it is older than the channel's max_age_days")
    since = flt.min_first_seen_ts
    if since is not None and first_seen_ts is not None and first_seen_ts < since:
        reasons.append(
            "it came before the channel's last digest, and a digest lists only the stories"
            " that came since (a pin still posts it)"
        )
    return reasons


def explain(
    article: Article,
    flt: RouteFilter,
    delivery: Delivery | None,
    state: RouteState,
    position: int | None,
    first_seen_ts: int | None = None,
    submitted_for: frozenset[int] | None = None,
    merged_into: str | None = None,
    event_taken: Delivery | None = None,
) -> list[str]:
    """Every reason ``article`` has not been posted to the channel, most decisive first.

    ``position`` is its place in the channel's queue when it is queued. ``merged_into``:
    the lead of the event it is in, when another story leads it; ``event_taken``: the
    delivery there of another story of its event, past pending.
    """
    reasons: list[str] = []
    if delivery is not None:
        match delivery.state:
            case DeliveryState.SENT:
                reasons.append(f"it was already posted there (message {delivery.message_id})")
            case DeliveryState.SKIPPED:
                reasons.append(
                    "a moderator skipped it for this channel"
                    + (f": {delivery.last_error}" if delivery.last_error else "")
                )
            case DeliveryState.FAILED:
                reasons.append(
                    f"sending failed after {delivery.attempts} attempt(s): "
                    f"{delivery.last_error or 'unknown error'}"
                )
            case DeliveryState.REVIEW:
                reasons.append("it is waiting for a moderator's approval")
            case DeliveryState.SENDING:
                reasons.append("it is being sent right now")
            case DeliveryState.APPROVED:
                reasons.append("it was approved and waits for the next scheduled post")
            case DeliveryState.PENDING:
                pass
    if merged_into is not None:
        reasons.append(f"it is merged into {merged_into}: its event is posted once, as that story")
    if event_taken is not None:
        other = event_taken.article_id
        reasons.append(
            f"another story of its event, {other}, was already posted there"
            f" (message {event_taken.message_id})"
            if event_taken.state is DeliveryState.SENT
            else f"another story of its event, {other}, was already offered there"
            f" ({event_taken.state.value})"
        )
    if state.disabled:
        reasons.append(f"the channel's route is disabled: {state.disabled_reason or 'no reason'}")
    if state.paused:
        reasons.append(f"the channel is paused: {state.pause_reason or 'by a moderator'}")
    if delivery is None or delivery.state in (DeliveryState.PENDING, DeliveryState.APPROVED):
        reasons.extend(filter_reasons(article, flt, first_seen_ts, submitted_for))
    if not reasons:
        if position is not None:
            reasons.append(f"it is number {position} in the channel's queue")
        else:
            reasons.append("it is eligible but other stories rank above it")
    return reasons
