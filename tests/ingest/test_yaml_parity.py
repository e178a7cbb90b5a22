"""yaml-rs (the fast path) and PyYAML (the reference) must make identical articles."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
import yaml_rs

import bot.ingest.frontmatter
from bench.corpus import generate
from bench.yaml_parity import strictly_equal
from bot.ingest.frontmatter import (
    _PLAIN_KEYS,
    _UNSURE,
    ArticleError,
    _fast_load,
    _needs_reference,
    load_front_matter,
    split_front_matter,
)
from bot.ingest.parsing import article_from_mapping

ROOT = Path(__file__).resolve().parents[2]

# Documents where YAML 1.1 and 1.2 differ, or that are malformed or hostile.
EDGE_CASES = [
    # dates that one parser reads and the other does not (zero padding, seconds)
    "title: t\nwebUrl: https://e.com/a\npublishedDateTime: 2020-06-09T9:05:00Z",
    "title: t\nwebUrl: https://e.com/a\npublishedDateTime: 2020-6-9T09:05:00Z",
    "title: 2020-06-09 00:55\nwebUrl: https://e.com/a",
    "title: t\nwebUrl: https://e.com/a\nexcerpt: 2020-06-09T00:55Z",
    "title: t\nwebUrl: https://e.com/a\ntopics: [2020-6-9, x]",
    "title: t\nwebUrl: https://e.com/a\ntopics:\n- 2020-06-09 00:55",
    # .5 is text to YAML 1.1, a number to 1.2
    "title: t\nwebUrl: https://e.com/a\ntopics: [-.5, +.5]",
    "title: t\nwebUrl: https://e.com/a\ntopics:\n- .5",
    # an empty block scalar; a lone = (YAML 1.1's value key)
    "title: t\nwebUrl: https://e.com/a\nquality: |",
    "title: t\nwebUrl: https://e.com/a\nprovider:\n  name: >\n  domain: d.com",
    "title: =\nwebUrl: https://e.com/a",
    "title: t\nwebUrl: https://e.com/a\ntopics: [=]",
    "title: t\nwebUrl: https://e.com/a\npublished: yes\nquality: 017",
    "title: t\nwebUrl: https://e.com/a\npublished: on",
    "title: t\nwebUrl: https://e.com/a\nheat: 1:30",
    "title: t\nwebUrl: https://e.com/a\nheat: 0o17",
    "title: t\nwebUrl: https://e.com/a\nheat: 1e3",
    "title: t\nwebUrl: https://e.com/a\nheat: 1_000",
    "title: t\nwebUrl: https://e.com/a\ntopics: [yes, no, On]",
    "title: t\nwebUrl: https://e.com/a\ntopics:\n  - y\n  - n",
    "title: t\nwebUrl: https://e.com/a\nyes: 1",
    "title: t\nwebUrl: https://e.com/a\nimages: []\nexcerpt: a, no, 017]",
    "title: t\nwebUrl: https://e.com/a\ntopics: [\n  yes, 0o17]",
    "title: t\nwebUrl: https://e.com/a\ntopics:\n- ON # a comment\n- 1_0",
    "title: t\nwebUrl: https://e.com/a\nextra:\n  017: octal key\n  1e3: exponent key",
    "title: t\nwebUrl: https://e.com/a\nextra: {0o17: a, 2.5: b, Off: c}",
    "title: !!str 12\nwebUrl: https://e.com/a",
    'title: t\nwebUrl: https://e.com/a\nx: !!python/object/apply:os.system ["echo hi"]',
    "base: &b {title: t, webUrl: 'https://e.com/a'}\nprovider: *b",
    "base: &b {title: t}\n<<: *b\nwebUrl: https://e.com/a",
    "title: t\ntitle: u\nwebUrl: https://e.com/a",
    "title: t\nwebUrl: https://e.com/a\nexcerpt: >\n  folded\n  text",
    "title: t\nwebUrl: https://e.com/a\nexcerpt: |\n  kept\n  lines",
    "title: t\nwebUrl: https://e.com/a\npublishedDateTime: 2020-06-09",
    "title: t\nwebUrl: https://e.com/a\npublishedDateTime: 2020-06-09 00:55:00",
    "title: t\nwebUrl: https://e.com/a\npublishedDateTime: 2020-13-45",
    "title: t\nwebUrl: https://e.com/a\npublishedDateTime: 2020-06-09T02:55:00+02:00",
    "title: t\nwebUrl: https://e.com/a\nheat: " + "9" * 5000,
    "title: t\nwebUrl: https://e.com/a\nquality: .nan",
    "title: 'it''s'\nwebUrl: \"https://e.com/a\\u0041\"",
    "title: t\nwebUrl: [unclosed",
    "- a list\n- not a mapping",
    "title: ~\nwebUrl: https://e.com/a",
    "title: t\nwebUrl: https://e.com/a\nrelated:\n  - {title: r, webUrl: 'https://r.org', q: 5}",
    # a quoted key's value right after its ":", in flow context: tags, binary, aliases
    'title: t\nwebUrl: https://e.com/a\nx: {"a":!!python/object/apply:os.system ["id"]}',
    'title: t\nwebUrl: https://e.com/a\nx: {"a":!!binary aGVsbG8=}',
    'title: t\nwebUrl: https://e.com/a\nx: {"a":&a 1, "b":*a}',
    "title: t\nwebUrl: https://e.com/a\nx: ['a':!foo 1]",
]


def outcome(front: str, fast: bool) -> object:
    """The article (or the rejection reason) a front matter makes."""
    try:
        return article_from_mapping(load_front_matter(front, fast=fast))
    except ArticleError as exc:
        return f"rejected: {exc}"


def corpus_fronts(tmp_path: Path) -> list[str]:
    folder = tmp_path / "corpus"
    generate(folder, 300, seed=7)
    files = sorted([*folder.rglob("*.txt"), *(ROOT / "seeds").rglob("*.txt")])
    return [split_front_matter(f.read_text(encoding="utf-8"))[0] for f in files]


def test_yaml_rs_is_installed_with_the_project() -> None:
    assert vars(bot.ingest.frontmatter)["yaml_rs"] is yaml_rs  # the parser's, not its fallback None


def test_identical_articles_for_the_whole_test_corpus(tmp_path: Path) -> None:
    fronts = corpus_fronts(tmp_path)
    assert len(fronts) == 301
    for front in fronts:
        assert outcome(front, fast=True) == outcome(front, fast=False)
    # The corpus really takes the fast path (else this test would prove nothing).
    assert all(_fast_load(front + "\n") is not _UNSURE for front in fronts)


@pytest.mark.parametrize("front", EDGE_CASES)
def test_identical_outcome_for_edge_cases(front: str) -> None:
    assert outcome(front, fast=True) == outcome(front, fast=False)


def test_the_keys_read_without_a_check_read_alike_in_both_parsers() -> None:
    # _as_read skips the key check for mappings whose keys are all in _PLAIN_KEYS
    for key in _PLAIN_KEYS:
        assert yaml.safe_load(f"{key}: 1") == yaml_rs.loads(f"{key}: 1") == {key: 1}
    # the check it skips: a key YAML 1.1 reads otherwise, among known keys, still rereads
    front = "title: t\nwebUrl: https://e.com/a\nprovider:\n  name: p\n  on: 1\n"
    assert not _needs_reference(front)  # so it is the key check that sends it to PyYAML
    assert _fast_load(front) is _UNSURE


# --------------------------------------------------------------------------- generated
# Every combination of a node's decorations (tags, an anchor), its value, the place it
# sits in (block and flow context, a key written right against its ":"), and the key's
# quoting; then anchors defined in one place and used (alias, merge key) in another.
# The fast path must give PyYAML's verdict and value for each: both accept with the same
# mapping (types included) and article, or both reject with the same reason.

HEAD = "title: t\nwebUrl: https://e.com/a\n"
TAGS = [
    "",
    "!!str ",
    "!!int ",
    "!!binary ",
    "!!python/object/apply:os.system ",
    "!!python/name:os.system ",
    "!foo ",
    "!<tag:yaml.org,2002:str> ",
    "!<!foo> ",
    "!!map ",
    "!!seq ",
    "!!null ",
]
ANCHORS = ["", "&a "]
VALUES = ["1", "aGVsbG8=", '"id"', '["id"]', "{k: v}"]
KEYS = ["x", '"x"', "'x'"]
PLACES = [
    "{key}: {node}",
    "{key}:\n- {node}",
    "{key}:\n  {key}: {node}",
    "{key}: [{node}]",
    "{key}: [a,{node}]",
    "{key}: {{{key}: {node}}}",
    "{key}: {{{key}:{node}}}",  # a quoted key's value may follow its ":" directly
    "{key}: [{key}:{node}]",
    "? {node}\n: {key}",
    "{key}: {{? {node} : v}}",
]
DEFINITIONS = [
    "d: &a {value}",
    "d: [&a {value}]",
    'd: {{"k":&a {value}}}',
    "d:\n- &a {value}",
    "&a d: {value}",
]
USES = [
    "{key}: *a",
    "{key}: [*a]",
    "{key}: [a,*a]",
    "{key}: {{k: *a}}",
    "{key}: {{{key}:*a}}",
    "{key}:\n- *a",
    "{key}:\n  k: *a",
    "{key}:\n  <<: *a",
    "{key}: {{<<: *a}}",
    "{key}: {{{key}: 1, <<: *a}}",
    "*a : v",
]
ALIASED = ["1", '"s"', "[1, 2]", "{m: 1}"]
# Then plain scalars: a character where a scalar starts or where YAML 1.1 sees a line
# break, a separator or an indicator that YAML 1.2 does not, in each place it may sit ...
ODD = [*":?|>-,#%@`'\"_.!&*\\=~ \t", "\x85", "\u2028", "\u2029", "\ufeff"]
SCALAR_PLACES = [
    "x: {c}abc",
    "x: a{c}b",
    "x:\n  {c}abc",
    "x:\n- {c}abc",
    "x: [{c}abc]",
    "x: [a, {c}]",
    "x: {{a:{c}abc}}",
    'x: {{"a":{c}abc}}',
    "x: {{{c}a: 1}}",
]
# ... and numbers and dates in the forms the two YAML versions read apart, in every style
# (yaml-rs reads a date in quotes or a stripped block scalar as a date, PyYAML as text).
FORMS = [
    "_1",
    "1e_1",
    "-_000.5e+3",
    "190:20:30._1",
    "0o17",
    "1_000",
    ".5",
    "yes",
    "2020-06-09",
    "2020-06-09 00:55",
    "2020-06-09T00:55:00Z",
    "0001-01-01",
]
STYLES = [
    "x: {v}",
    "x: '{v}'",
    'x: "{v}"',
    'x: "\\x{first:02x}{rest}"',
    "x: |-\n  {v}",
    "x: >-\n  {v}",
    "x: |\n  {v}",
    "x:\n  {v}",
    "x: # a comment\n  {v}",
    "x: [{v}]",
    "{v}: 1",
]


def generated_fronts() -> list[str]:
    fronts = [
        HEAD + place.format(key=key, node=tag + anchor + value)
        for tag, anchor, value, key, place in itertools.product(TAGS, ANCHORS, VALUES, KEYS, PLACES)
    ]
    fronts += [
        HEAD + definition.format(value=value) + "\n" + use.format(key=key)
        for definition, use, value, key in itertools.product(DEFINITIONS, USES, ALIASED, KEYS)
    ]
    fronts += [HEAD + place.format(c=c) for c, place in itertools.product(ODD, SCALAR_PLACES)]
    fronts += [
        HEAD + style.format(v=v, first=ord(v[0]), rest=v[1:])
        for v, style in itertools.product(FORMS, STYLES)
    ]
    return fronts


def verdict(front: str, fast: bool) -> tuple[str, object, object]:
    """What a front matter makes: its mapping and article, or the rejection reason."""
    try:
        mapping = load_front_matter(front, fast=fast)
        return "accepted", mapping, article_from_mapping(mapping).article
    except ArticleError as exc:
        return "rejected", str(exc), None


def test_generated_documents_get_one_verdict_and_value_from_both_paths() -> None:
    fronts = generated_fronts()
    assert len(fronts) == 3_600 + 660 + 26 * 9 + 12 * 11
    differ, accepted, fast = [], 0, 0
    for number, front in enumerate(fronts):
        reference, candidate = verdict(front, fast=False), verdict(front, fast=True)
        same = reference[0] == candidate[0] and reference[2] == candidate[2]
        if reference[0] == "accepted":
            same = same and strictly_equal(reference[1], candidate[1])
            accepted += 1
        else:
            same = same and reference[1] == candidate[1]
        if not same:
            differ.append(front)
        read_fast = _fast_load(front + "\n") is not _UNSURE
        # No tag, anchor or alias reaches yaml-rs (so no expanded text: see _fast_load).
        marked = number < 3_600 + 660 and any(mark in front for mark in ("!", "&a", "*a"))
        if read_fast and marked:
            differ.append(front)
        fast += read_fast
    assert differ == []
    # Both verdicts occur, and the fast path reads some (else this would prove little).
    assert (accepted, fast) == (1866, 226)


def test_the_parity_command_reports_broken_files_and_compares_the_others(tmp_path: Path) -> None:
    seed = next((ROOT / "seeds").glob("*.txt"))
    (tmp_path / "a-seed.txt").write_bytes(seed.read_bytes())
    (tmp_path / "b-unclosed.txt").write_text("---\ntitle: [unclosed\n---\n")
    (tmp_path / "c-no-front.md").write_text("no front matter\n")
    (tmp_path / "d-no-title.txt").write_text("---\nwebUrl: https://e.com/d\n---\n")
    (tmp_path / "e-yes.txt").write_text("---\ntitle: t\nwebUrl: https://e.com/e\nx: yes\n---\n")
    done = subprocess.run(
        [sys.executable, "-m", "bench.yaml_parity", str(tmp_path), "--seconds", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stderr.splitlines() == [
        f"{tmp_path}/b-unclosed.txt: invalid YAML at line 3: did not find expected ',' or ']'",
        f"{tmp_path}/c-no-front.md: no front matter: the first line must be ---",
        f"{tmp_path}/d-no-title.txt: title is required",
    ]
    lines = done.stdout.splitlines()
    # yes is True to YAML 1.1 and text to 1.2: a difference, found past the broken files
    assert lines[:2] == [
        "parity: 1 of 2 files identical (3 broken, reported above)",
        f"  differs: {tmp_path}/e-yes.txt",
    ]
    assert done.returncode == 1
