"""The shard keeper: a process's shard leases, taken, renewed, lost, taken over and given
up, on a real store (a SQLite file), with a clock the test moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.shards import make_shards
from bot.runtime.shard_leases import ShardKeeper, ShardsHeld
from bot.store import Store, open_store
from tests.store.conftest import fetch_sql

LONG = 600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keeper(store: Store, clock: Clock, owner: str, *ids: int, standby: bool = False) -> ShardKeeper:
    shards = make_shards(None if standby else ids, 4, standby=standby, lease=30.0, renew=10.0)
    return ShardKeeper(store, shards, owner=owner, clock=clock)


async def test_a_process_holds_its_shards_until_a_renewal_is_late(store: Store) -> None:
    clock = Clock()
    one = keeper(store, clock, "one", 0, 1)
    await one.start()
    assert one.held() == (0, 1)
    assert one.running().describe() == "0, 1 of 4"
    clock.now += 19.9  # counted on for lease - renew = 20 s after the renewal began
    assert (one.holds(0), one.holds(2)) == (True, False)
    await one.step()
    assert not one.changed.is_set()
    clock.now += 19.9
    assert one.holds(1)
    clock.now += 0.2  # no round ran for 20 s: the routes stop now, before any round
    assert (one.holds(0), one.holds(1), one.held()) == (False, False, ())
    await one.step()  # the store's lease (30 s) still runs: it is its own, taken back
    assert one.held() == (0, 1)


async def test_a_second_process_is_refused_naming_the_shard_and_its_holder(store: Store) -> None:
    clock = Clock()
    await keeper(store, clock, "one on host", 0, 1).start()
    with pytest.raises(ShardsHeld) as caught:
        await keeper(store, clock, "two", 1, 2).start()
    message = str(caught.value)
    assert message.startswith(
        "shard 1 of 4 is held by another `newsdesk run`: shard 1 of 4 by one on host (for "
    )
    assert message.endswith(
        " s more). Run other shard ids, or `--standby` to take over a shard when its process stops"
    )
    assert [x.shard_id for x in await store.shard_leases()] == [0, 1]


async def test_a_standby_takes_over_only_expired_leases_and_a_release_is_left_to_its_owner(
    store: Store,
) -> None:
    clock = Clock()
    standby = keeper(store, clock, "standby", standby=True)
    await standby.start()
    await standby.step()
    assert standby.held() == ()  # never held: the process started for them takes them
    assert await store.take_shards("dead", [2, 3], 4, 0.0) == []  # expired at once
    assert await store.take_shards("alive", [0], 4, LONG) == []
    await standby.step()
    assert standby.held() == (2, 3)
    assert standby.changed.is_set()
    assert standby.running().describe() == "2, 3 of 4 (standby)"
    assert [(x.shard_id, x.owner) for x in await store.shard_leases()] == [
        (0, "alive"), (2, "standby"), (3, "standby"),
    ]  # fmt: skip
    # a clean stop frees them; a standby leaves them to the restarted owner
    await standby.release()
    assert standby.held() == ()
    assert [x.shard_id for x in await store.shard_leases()] == [0]
    other = keeper(store, clock, "other standby", standby=True)
    await other.step()
    assert other.held() == ()


async def test_a_lease_taken_over_meanwhile_is_lost_for_good(store: Store) -> None:
    clock = Clock()
    one = keeper(store, clock, "one", 0)
    await one.start()
    await store.release_shards("one", [0])
    assert await store.take_shards("thief", [0], 4, LONG) == []
    await one.step()
    assert (one.held(), one.changed.is_set()) == ((), True)
    assert [(x.shard_id, x.owner) for x in await store.shard_leases()] == [(0, "thief")]


async def lease_owners(store: Store) -> list[tuple[str, str | None]]:
    return [
        (str(article_id), owner)
        for article_id, owner in await fetch_sql(
            store, "SELECT article_id, lease_owner FROM deliveries ORDER BY article_id"
        )
    ]


async def test_taking_over_a_dead_holders_shards_settles_its_sends_in_flight_at_once(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "newsdesk.db")
    names = ("dead", "alive", "standby", "restarted")
    dead, alive, mine, again = [await open_store(path, lease_owner=n) for n in names]
    try:
        clock = Clock()
        assert await dead.take_shards("dead", [2, 3], 4, 0.0) == []  # killed: expired
        assert await alive.take_shards("alive", [0], 4, LONG) == []
        for store, article_id in ((dead, "art1"), (alive, "art2"), (dead, "art3")):
            assert await store.claim(article_id, 10) is not None  # each lease 60 s
        standby = keeper(mine, clock, "standby", standby=True)
        await standby.start()
        await standby.step()
        assert standby.held() == (2, 3)
        # the dead process's sends are the standby's to settle now, the live one's not
        assert await lease_owners(mine) == [("art1", None), ("art2", "alive"), ("art3", None)]
        taken = await mine.claim("art1", 10)
        assert taken is not None and taken.taken_over is True
        assert await mine.claim("art2", 10) is None

        # a process restarted for its shard after a crash: its dead former self's too
        assert await dead.take_shards("dead", [1], 4, 0.0) == []
        assert await dead.claim("art4", 10) is not None
        await keeper(again, clock, "restarted", 1).start()
        assert (await lease_owners(again))[3] == ("art4", None)
    finally:
        for store in (dead, alive, mine, again):
            await store.close()
