"""Shard ownership as a lease: which gateway shards this process runs, kept in the store.

A sharded process takes its shards' leases at start (refused if another live process
holds one), renews them every ``shards.renew`` seconds and gives them up on a clean stop.
A standby (``shards.standby``) starts with none and takes over every shard of its count
whose lease expired; a process that lost one of its own takes it back once it is free.

The lease is the store's (its clock); this process counts on one only until
``shards.lease - shards.renew`` seconds after the start of its last successful renewal
(by its own monotonic clock): by then the store's lease has ``shards.renew`` seconds
left, and the deliverer has cut a send still in flight then (Deliverer.while_held),
before anyone may take the shard over. :meth:`ShardKeeper.left` answers by that clock
when asked, so a route of a shard whose renewal failed stops at once, whether or not the
renewal loop has run since.

Whoever takes a shard over (a standby, or a process restarted for it) ends the delivery
leases of its former holder if that holds no live shard lease any more
(Store.end_leases_of): its sends left in flight are settled at once, by looking in the
channel first, not when each delivery lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.config.shards import Shards
from bot.store.base import Store
from bot.store.records import ShardLease, StoreError, new_lease_owner

log = logging.getLogger(__name__)


class ShardsHeld(Exception):
    """Another live process holds a lease this process needs at start."""

    def __init__(self, blocking: list[ShardLease]) -> None:
        first = blocking[0]
        held = ", ".join(
            f"{lease.describe()} by {lease.owner} (for {max(lease.expires_in, 0):.0f} s more)"
            for lease in blocking
        )
        super().__init__(
            f"{first.describe()} is held by another `newsdesk run`: {held}. Run other shard"
            " ids, or `--standby` to take over a shard when its process stops"
        )
        self.blocking = blocking


class ShardKeeper:
    """The shard leases of one process (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        shards: Shards,
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.shards = store, shards
        self.owner = owner or new_lease_owner()  # host:pid:random, as the store's
        self.clock = clock
        self._until: dict[int, float] = {}  # shard id → counted on until (monotonic)
        self._reported: tuple[int, ...] = ()  # the shards last reported by changed
        # Former holders of the shards taken over whose sends in flight are not settled
        # yet (Store.end_leases_of): tried again each round until the store answers
        self._former: set[str] = set()
        self.changed = asyncio.Event()  # the shards held changed: the gateway must follow

    @property
    def _counted_on(self) -> float:
        return self.shards.lease - self.shards.renew

    def held(self) -> tuple[int, ...]:
        """The shards this process may run now, sorted."""
        now = self.clock()
        return tuple(sorted(i for i, until in self._until.items() if now < until))

    def holds(self, shard_id: int) -> bool:
        return self.left(shard_id) > 0

    def left(self, shard_id: int) -> float:
        """Seconds this process may still count on the shard's lease (<= 0: not held)."""
        return self._until.get(shard_id, 0.0) - self.clock()

    def running(self) -> Shards:
        """The shards held now, as the Shards the gateway and the routes follow."""
        return self.shards.holding(self.held())

    async def start(self) -> None:
        """Take this process's shards (none for a standby). Raises ShardsHeld naming the
        shard and its holder when another live process holds one; StoreError."""
        if not self.shards.ids:
            return
        began = self.clock()
        before = await self.store.shard_leases()
        blocking = await self.store.take_shards(
            self.owner, self.shards.ids, self.shards.count, self.shards.lease
        )
        if blocking:
            raise ShardsHeld(blocking)
        for shard_id in self.shards.ids:
            self._until[shard_id] = began + self._counted_on
        self._reported = self.held()
        # a restart after a crash takes its shards back from its dead former self
        self._former |= {x.owner for x in before if x.shard_id in self.shards.ids}
        try:
            await self._settle_former()
        except StoreError as exc:
            log.warning("shard leases: sends in flight settled at the next round: %s", exc)

    async def step(self) -> None:
        """One round: renew what is held, and take over what is wanted (see
        :meth:`_take_free`). Sets ``changed`` when the shards held are not the ones last
        reported."""
        began = self.clock()
        for shard_id in [i for i, until in self._until.items() if until <= began]:
            # lapsed: its routes stopped. Not renewed even if the store would: it is
            # taken again, by anyone, once the store's lease expires
            del self._until[shard_id]
            log.error(
                "shard %d of %d: its lease was not renewed in time: its routes stop here",
                shard_id,
                self.shards.count,
            )
        mine = sorted(self._until)
        if mine:
            renewed = await self.store.renew_shards(
                self.owner, mine, self.shards.count, self.shards.lease
            )
            for shard_id in mine:
                if shard_id in renewed:
                    self._until[shard_id] = began + self._counted_on
                else:
                    del self._until[shard_id]
                    log.error(
                        "shard %d of %d: its lease was lost (expired or taken over): its"
                        " routes stop here",
                        shard_id,
                        self.shards.count,
                    )
        await self._take_free(began)
        await self._settle_former()
        self._report()

    async def _take_free(self, began: float) -> None:
        """Take this process's own shards back once nobody holds them, and for a
        standby every shard whose lease expired. A standby leaves a shard never held,
        or given up by a clean stop, to the process started for it (a restart takes its
        shards back, not finding them held by the standby)."""
        leases = await self.store.shard_leases()
        if any(x.expires_in > 0 and x.shard_count != self.shards.count for x in leases):
            return  # processes of another shard count run: they split the guilds otherwise
        ours = {x.shard_id: x for x in leases if x.shard_count == self.shards.count}
        live = {i for i, x in ours.items() if x.expires_in > 0 and x.owner != self.owner}
        wanted = set(self.shards.ids) - live
        if self.shards.standby:
            wanted |= {i for i, x in ours.items() if x.expires_in <= 0}
        for shard_id in sorted(wanted - set(self._until)):
            # one at a time: of two standbys, each may win some
            if await self.store.take_shards(
                self.owner, [shard_id], self.shards.count, self.shards.lease
            ):
                continue
            self._until[shard_id] = began + self._counted_on
            log.info("shard %d of %d: took it over", shard_id, self.shards.count)
            if shard_id in ours:
                self._former.add(ours[shard_id].owner)

    async def _settle_former(self) -> None:
        """End the delivery leases of the former holders of the shards taken over, those
        that hold no live shard lease now (Store.end_leases_of): they stopped sending on
        their shards before the leases expired, so what they left in flight is taken over
        by the next claim, which looks in the channel first, not after each delivery
        lease (LEASE_SECONDS from its claim) runs out."""
        self._former.discard(self.owner)
        if not self._former:
            return
        ended = await self.store.end_leases_of(sorted(self._former))
        self._former.clear()
        if ended:
            log.info(
                "%d send(s) in flight left by the shards' former holder(s): taken over now",
                ended,
            )

    def _report(self) -> None:
        now = self.held()
        if now != self._reported:
            self._reported = now
            self.changed.set()

    async def run(self) -> None:
        """Renew and take over every ``shards.renew`` seconds, until cancelled. A round
        the store fails is logged; the shards held lapse by the clock meanwhile."""
        while True:
            wake = self.clock() + self.shards.renew
            try:
                # bounded: a database that hangs must not hold up the report of a lapse
                # for long (the routes stop at the lapse anyway: holds() reads the clock)
                await asyncio.wait_for(self.step(), self._counted_on)
            except (StoreError, TimeoutError) as exc:
                log.warning("shard leases: the database did not answer: %s", exc or "timeout")
                self._report()
            # a lease lapsing between two rounds is reported at its deadline
            deadlines = [u for u in self._until.values() if u > self.clock()]
            await asyncio.sleep(max(0.0, min([wake, *deadlines]) - self.clock()))
            self._report()

    async def release(self) -> None:
        """Give up every lease held (a clean stop): a standby may take them at once."""
        mine = sorted(self._until)
        self._until.clear()
        if not mine:
            return
        try:
            await self.store.release_shards(self.owner, mine)
        except StoreError as exc:
            log.warning("shard leases: could not give them up (they expire): %s", exc)
