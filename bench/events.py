"""How long grouping articles into events takes: ``python -m bench.events [--size 100k]``.

Parses the benchmark corpus (generated and cached as ``bench.run`` does) into articles,
then times ``bot.curation.events.group`` over all of them and prints the figures: the
CPU time, the candidate pairs compared, the events with more than one article.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench import corpus
from bench.run import OUT, SIZES
from bot.curation import events
from bot.ingest.parsing import parse_file
from bot.models import Article, article_from_dict


def _parse(paths: list[str]) -> list[Article]:
    return [article_from_dict(parse_file(Path(p).read_bytes()).article) for p in paths]


def articles_of(folder: Path) -> list[Article]:
    paths = sorted(str(p) for p in folder.rglob("*.txt"))
    chunks = [paths[i : i + 2000] for i in range(0, len(paths), 2000)]
    with ProcessPoolExecutor(2) as pool:
        return [a for part in pool.map(_parse, chunks) for a in part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="100k")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    count = SIZES[args.size]
    folder = OUT / f"corpus-{args.size}-v{corpus.VERSION}"
    if not folder.exists():
        corpus.generate(folder, count)
    loaded = list({a.id: a for a in articles_of(folder)}.values())
    sigs = [events.Signature.of(a) for a in loaded]
    started = time.process_time()
    candidates = sum(1 for _ in events.candidate_pairs(sigs))
    candidate_seconds = time.process_time() - started
    timings = []  # CPU seconds: on a shared machine, wall time measures the neighbours
    for _ in range(args.repeat):
        started = time.process_time()
        grouped = events.group(loaded)
        timings.append(time.process_time() - started)
    merged = [e for e in grouped if len(e.articles) > 1]
    print(f"articles: {len(loaded):,}")
    print(f"candidate pairs compared: {candidates:,} ({candidate_seconds:.2f} s CPU to list)")
    median = sorted(timings)[len(timings) // 2]
    print(f"group(): {', '.join(f'{t:.2f}' for t in timings)} s CPU; median {median:.2f} s")
    in_merged = sum(len(e.articles) for e in merged)
    print(f"events of more than one article: {len(merged):,} ({in_merged:,} articles)")


if __name__ == "__main__":
    main()
