"""End to end: three `newsdesk run` processes (disjoint shards) on one PostgreSQL database
draw from one REST budget: together they stay under the bot's global limit. The small
version of ``python -m bench.shards`` (same code), with the limits scaled down so that
processes pacing themselves alone would be refused: the fake's global limit 10/s, the
budget 6/s (at most 6 + 3 in any second)."""

from __future__ import annotations

from pathlib import Path

from bench.shards import run_shards

ROUTES, PROCESSES = 30, 3


async def test_three_processes_post_every_story_once_within_one_budget(
    postgres_server_url: str, tmp_path: Path
) -> None:
    facts = await run_shards(
        postgres_server_url,
        tmp_path,
        routes=ROUTES,
        processes=PROCESSES,
        shards_per_process=1,
        schedule={"every": "2s"},
        rest_per_second=6,
        global_per_second=10,
        timeout=60.0,
    )
    assert (facts["routes"], facts["shards"], facts["guilds"]) == (30, 3, 3)
    assert (facts["messages"], facts["lost"], facts["duplicated"]) == (30, 0, 0)
    assert facts["recorded_twice"] == 0
    # exact counts from the fake's records: 429s at most 1% of the requests
    assert facts["rate_limited"] == facts["fake_rate_limited"]
    assert facts["rate_limited"] * 100 <= facts["requests"], facts
