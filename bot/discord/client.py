"""The discord.py bot. It gets its resources from ``main()``; ``setup_hook`` wires them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord.ext import commands

from bot.config.settings import Settings
from bot.delivery.deliverer import Deliverer, Sender
from bot.delivery.pacing import Pacer
from bot.discord.sender import DiscordSender
from bot.discord.ui import ReviewDesk
from bot.runtime.http import Probes, scheduler_running
from bot.runtime.metrics import MeteredSender, Metrics
from bot.runtime.service import Newsdesk
from bot.store.base import Store

log = logging.getLogger(__name__)

# The slash commands and the review buttons; loaded (and the buttons registered) in
# setup_hook, so they work for review messages sent before a restart.
EXTENSIONS: tuple[str, ...] = (
    "bot.discord.cogs.stories",
    "bot.discord.cogs.queue",
    "bot.discord.cogs.approval",
)

# A stop (SIGINT/SIGTERM) exits within 10 s whatever Discord does: the send in flight gets
# SEND_GRACE seconds to end and be recorded, and the gateway CLOSE_GRACE to answer its
# close. discord.py alone could wait minutes: it retries a 5xx send after 1, 3, 5 and 7 s,
# and aiohttp gives a request 300 s and a closing websocket 30 s.
SEND_GRACE = 5.0
CLOSE_GRACE = 2.0

# With shards: a route whose guild Discord did not tell (an outage, no access yet) is
# asked again this long after, until it is known.
LEARN_RETRY_SECONDS = 300.0
LEARN_JOB = "learn-guilds"


def intents() -> discord.Intents:
    """Only what the bot needs: guilds and channels. No privileged intents."""
    return discord.Intents(guilds=True)


class NewsdeskBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        store: Store,
        scheduler: AsyncIOScheduler,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        metrics: Metrics | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        options: dict[str, Any] = {"http_trace": metrics.trace_config()} if metrics else {}
        if isinstance(self, discord.AutoShardedClient):
            shards = settings.shards
            assert shards is not None, "make_bot() picks the sharded bot for shards only"
            options |= {"shard_ids": list(shards.ids), "shard_count": shards.count}
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **options,
        )
        self.settings, self.store, self.scheduler = settings, store, scheduler
        self.extension_names = tuple(extensions)
        # pacer: the REST budget every send waits on (run gives the one in the store)
        self.sender = DiscordSender(self, settings.mod_log_channel, pacer)
        sender: Sender = MeteredSender(self.sender, metrics) if metrics else self.sender
        self.deliverer = Deliverer(store, sender, settings)
        self.newsdesk = Newsdesk(
            settings,
            store,
            scheduler,
            self.deliverer,
            ready=self.wait_until_ready,
            on_load=metrics.loaded if metrics else None,
        )
        if metrics is not None:  # its per-route gauges: the routes this process runs
            metrics.split = self.deliverer.split
        # The approval extension's cog, which takes the review buttons' clicks; None
        # while it is not loaded (a click then says reviews are unavailable).
        self.review_desk: ReviewDesk | None = None
        self._startup: asyncio.Task[None] | None = None
        self._settling = False  # the start-up task is sending: let it finish, like a run

    async def setup_hook(self) -> None:
        for name in self.extension_names:
            await self.load_extension(name)
        await self.sync_commands()
        if self.is_closed():  # stopped while the commands synced
            return
        await self.deliverer.load_guilds()  # with shards: the routes known to be ours
        self.newsdesk.start()
        self._startup = asyncio.create_task(self._after_ready(), name="newsdesk-startup")

    async def sync_commands(self) -> None:
        """Register the slash commands. A guild that refuses (the bot is not in it, or
        lacks the applications.commands scope) is reported, and the bot runs on: its
        channels post whatever the commands do."""
        targets: list[discord.Object | None] = [discord.Object(g) for g in self.settings.guild_ids]
        for guild in targets or [None]:
            where = f"guild {guild.id}" if guild else "every guild (global)"
            try:
                if guild is not None:
                    self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            except (discord.HTTPException, aiohttp.ClientError) as exc:
                if self.is_closed():
                    return
                log.error("cannot sync the slash commands to %s: %s", where, exc)
                continue
            log.info("synced %d commands to %s", len(synced), where)

    async def _after_ready(self) -> None:
        """First load, the channels' checks, the adoption of the posts they show (after
        the load: a post is matched to a stored story) and crash recovery, once the
        gateway has delivered the guilds."""
        await self.newsdesk.safe_rescan()
        await self.wait_until_ready()
        await self.learn_routes()
        broken = await self.deliverer.check_routes()
        log.info(
            "%d route(s) ready, %d skipped", len(self.deliverer.routes()) - len(broken), len(broken)
        )
        try:
            adopted = await self.deliverer.adopt_posts()
            if adopted:
                log.info("adopted %d post(s) already in the channels", len(adopted))
        except Exception:
            log.exception("adopting the posts already in the channels failed")
        try:
            self._settling = True
            settled = await self.deliverer.reconcile()
            if settled:
                log.info("reconciled %d delivery(ies) left in flight", len(settled))
        except Exception:
            log.exception("reconciling deliveries failed")

    async def learn_routes(self) -> None:
        """With shards: learn the guild of each route not known yet (a channel of this
        process's guilds is in discord.py's cache; another costs one request, once: it is
        kept), schedule those found to be ours, and say how the routes fall."""
        shards = self.settings.shards
        if shards is None:
            return
        try:
            found = await self.deliverer.learn_guilds(self.sender.channel_guild)
        except Exception:  # the store: the routes known go on, the others wait a restart
            log.exception("learning the routes' guilds failed")
            return
        self.newsdesk.schedule_learned(found)
        split = self.deliverer.split()
        log.info(
            "shards %s: %d route(s) run here (%s), %d on other shards, %d not known%s",
            shards.describe(),
            len(split.run),
            ", ".join(f"#{route.name}" for route in split.run) or "none",
            len(split.elsewhere),
            len(split.unknown),
            f" (asked again in {LEARN_RETRY_SECONDS:g} s)" if split.unknown else "",
        )
        if not self.scheduler.running:
            return
        if split.unknown:  # a one-off job; the next look-up schedules the next if need be
            when = datetime.now(UTC) + timedelta(seconds=LEARN_RETRY_SECONDS)
            self.scheduler.add_job(
                self.learn_routes, "date", run_date=when, id=LEARN_JOB, replace_existing=True,
                name="learn the guilds of routes not known yet", misfire_grace_time=None,
            )  # fmt: skip
        elif self.scheduler.get_job(LEARN_JOB) is not None:
            self.scheduler.remove_job(LEARN_JOB)

    def gateway_problem(self) -> str | None:
        """Why the bot is not connected to the gateway, or None."""
        connected = self.is_ready() and not self.is_closed() and self.ws is not None
        if connected and self.ws.open:
            return None
        return "not connected to the Discord gateway"

    def probes(self) -> Probes:
        """What /readyz asks of the running bot."""

        def gateway() -> str | None:
            return self.gateway_problem()

        def latency() -> float | None:
            value = self.latency
            return None if value != value or value == float("inf") else value  # NaN: none yet

        return Probes(gateway, scheduler_running(self.scheduler), latency)

    async def shutdown(self) -> None:
        """Stop scheduling, let the send in flight finish, then disconnect: within
        SEND_GRACE + 1 + CLOSE_GRACE seconds (8).

        The start-up task is cancelled while it loads or checks; once it settles the
        deliveries a crash left in flight, it sends like a run, and like a run it
        finishes and records the send in hand (the deliverer starts no other). A send
        that has not ended after SEND_GRACE (Discord unreachable or failing) is cut
        short: its story stays in flight, and the next start looks for it in the
        channel before sending it.
        """
        startup = self._startup
        if startup is not None and not startup.done() and not self._settling:
            startup.cancel()
        ending: set[asyncio.Future[None]] = {asyncio.ensure_future(self.newsdesk.stop())}
        if startup is not None:
            ending.add(startup)
        _, late = await asyncio.wait(ending, timeout=SEND_GRACE)
        if late:
            log.warning(
                "stopping: the send in flight has not ended after %g s: cut short; its"
                " story stays in flight, and the next start looks for it in the channel"
                " before sending it",
                SEND_GRACE,
            )
            self.newsdesk.cut_short()
            if startup is not None:
                startup.cancel()
            await asyncio.wait(late, timeout=1.0)  # they end at their next await
        closing = asyncio.ensure_future(self.close())
        _, late = await asyncio.wait([closing], timeout=CLOSE_GRACE)
        if late:  # the gateway did not answer the close: drop the connections
            log.warning("stopping: Discord did not answer the close within %g s", CLOSE_GRACE)
            await self.http.close()


class ShardedNewsdeskBot(NewsdeskBot, commands.AutoShardedBot):
    """The bot of a process with ``shards``: discord.py's AutoShardedBot, one gateway
    connection per shard id, each receiving only its guilds' events."""

    def gateway_problem(self) -> str | None:
        shards = self.settings.shards
        assert shards is not None
        if not self.is_ready() or self.is_closed():
            return "not connected to the Discord gateway"
        down = [i for i in shards.ids if (s := self.get_shard(i)) is None or s.is_closed()]
        if down:
            return f"shard {', '.join(map(str, down))} not connected to the Discord gateway"
        return None


def make_bot(
    settings: Settings,
    store: Store,
    scheduler: AsyncIOScheduler,
    *,
    extensions: Sequence[str] = EXTENSIONS,
    metrics: Metrics | None = None,
    pacer: Pacer | None = None,
) -> NewsdeskBot:
    """The bot for these settings: sharded with ``shards``, else the plain one."""
    kind = NewsdeskBot if settings.shards is None else ShardedNewsdeskBot
    return kind(settings, store, scheduler, extensions=extensions, metrics=metrics, pacer=pacer)
