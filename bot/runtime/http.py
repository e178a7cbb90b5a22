"""The optional HTTP listener for operators: ``/healthz``, ``/readyz`` and ``/metrics``.

On aiohttp, which discord.py already brings. It serves from the bot's own event loop, so
``/healthz`` answering at all is the proof that the loop is alive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from apscheduler.schedulers.base import STATE_RUNNING, BaseScheduler
from prometheus_client import CONTENT_TYPE_LATEST

from bot.config.settings import split_listen
from bot.runtime.metrics import Metrics
from bot.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Probes:
    """What /readyz asks; each says why it is not ready, or None."""

    gateway: Callable[[], str | None]
    scheduler: Callable[[], str | None]
    latency: Callable[[], float | None]


def scheduler_running(scheduler: BaseScheduler) -> Callable[[], str | None]:
    """The /readyz probe of a scheduler: why it is not running, or None."""

    def probe() -> str | None:
        return None if scheduler.state == STATE_RUNNING else "the scheduler is not running"

    return probe


class HealthServer:
    def __init__(self, listen: str, store: Store, metrics: Metrics, probes: Probes) -> None:
        self.host, self.port = split_listen(listen)
        self.store, self.metrics, self.probes = store, metrics, probes
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_page)
        return app

    async def start(self) -> str:
        """Listen; returns the address actually bound (port 0 picks a free one)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        log.info("http: listening on %s (/healthz, /readyz, /metrics)", address)
        return address

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        reasons = [
            why
            for why in (
                self.probes.gateway(),
                None if await self.store.writable() else "the store is not writable",
                self.probes.scheduler(),
            )
            if why
        ]
        if reasons:
            return web.Response(status=503, text="".join(f"{why}\n" for why in reasons))
        return web.Response(text="ready\n")

    async def metrics_page(self, request: web.Request) -> web.Response:
        body = await self.metrics.render(self.store, self.probes.latency())
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
