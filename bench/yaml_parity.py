"""Does yaml-rs read our front matter exactly as PyYAML's CSafeLoader does, and how fast?

    python -m bench.yaml_parity [FOLDER ...]   (default: the seeds and the cached 10k corpus)

A file that is no article (no front matter, invalid YAML, no title…) is reported on
stderr as ``path: reason``, and the other files are still compared.

For every file, what ``bot.ingest.parsing.load_front_matter`` returns (PyYAML, the reference)
and what ``yaml_rs.loads`` returns must be equal *with the same types* at every level (a
datetime is not its ISO text, ``1`` is not ``True`` or ``1.0``), and so must the articles
``bot.ingest.parsing`` builds from them. Then both parsers are timed on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from bot.ingest.frontmatter import ArticleError, decode, load_front_matter, split_front_matter
from bot.ingest.loader import find_files
from bot.ingest.parsing import article_from_mapping

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDERS = (ROOT / "seeds", ROOT / "bench" / "out" / "corpus-10k-v1")

# Documents where YAML 1.1 (PyYAML) and YAML 1.2 (yaml-rs) disagree, to show the limits.
PROBES = {
    "yes/no/on/off": "a: yes\nb: off\n",
    "octal 010": "a: 010\n",
    "float 1e3": "a: 1e3\n",
    "sexagesimal 1:30": "a: 1:30\n",
    "date only": "a: 2020-06-09\n",
    "naive time": "a: 2020-06-09 10:00:00\n",
    "impossible date": "a: 2020-13-45\n",
    "merge key <<": "base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n",
}


def strictly_equal(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def same_reading(
    reference: Any, article: Any, front: str, body: str, candidate: Callable[[str], Any]
) -> bool:
    """Whether ``candidate`` reads ``front`` as the reference did, article included."""
    try:
        read = candidate(front)
        return (
            isinstance(read, dict)
            and strictly_equal(reference, read)
            and article == article_from_mapping(read, body).article
        )
    except Exception:  # a parse error or a rejected article: a difference
        return False


def pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=yaml.CSafeLoader)


def rate(parse: Callable[[str], Any], fronts: Sequence[str], seconds: float = 3.0) -> float:
    """Documents per second on one core, over at least ``seconds``."""
    done, started = 0, time.perf_counter()
    while True:
        for front in fronts:
            parse(front)
        done += len(fronts)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    import yaml_rs

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, default=list(DEFAULT_FOLDERS))
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="time each parser this long per group"
    )
    args = parser.parse_args(argv)
    files, missing, _ = find_files(args.folders)
    for folder, reason in missing:
        print(f"{folder}: {reason}", file=sys.stderr)
    fronts: list[str] = []
    compared: list[str] = []  # the paths of ``fronts``
    different: list[str] = []
    broken: list[str] = []
    for path in files:
        # A file the reference rejects is no article to compare: it is reported (as
        # `newsdesk load` would) and the others are still compared.
        try:
            front, body = split_front_matter(decode(Path(path).read_bytes()))
            reference = load_front_matter(front)
            article = article_from_mapping(reference, body).article
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            broken.append(path)
            continue
        except ArticleError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            broken.append(path)
            continue
        fronts.append(front)
        compared.append(path)
        if not same_reading(reference, article, front, body, yaml_rs.loads):
            different.append(path)
    print(f"parity: {len(compared) - len(different)} of {len(compared)} files identical", end="")
    print(f" ({len(broken)} broken, reported above)" if broken else "")
    for path in different[:20]:
        print(f"  differs: {path}")

    seeds = str(ROOT / "seeds") + "/"
    in_seeds = [path.startswith(seeds) for path in compared]
    seed = [front for front, seeded in zip(fronts, in_seeds, strict=True) if seeded]
    others = [front for front, seeded in zip(fronts, in_seeds, strict=True) if not seeded]
    for name, group in (
        ("the seeds", seed),
        ("the corpus", others[:: max(1, len(others) // 2000)]),
    ):
        if group:
            ours = rate(pyyaml, group, args.seconds)
            theirs = rate(yaml_rs.loads, group, args.seconds)
            print(f"{name}, {len(group)} docs, one core: PyYAML CSafeLoader {ours:,.0f} docs/s,")
            print(f"  yaml-rs {theirs:,.0f} docs/s ({theirs / ours:.1f}×)")

    print("where YAML 1.1 and 1.2 differ (PyYAML → yaml-rs):")
    for name, text in PROBES.items():
        try:
            read: Any = yaml_rs.loads(text)
        except Exception as exc:  # a probe may be rejected outright
            read = f"error: {exc}"
        print(f"  {name}: {load_front_matter(text)!r} → {read!r}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
