"""Article files → Article values: the seed in full, every kind of bad file, the rules."""

from __future__ import annotations

import itertools
import random
import tracemalloc
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bench.corpus import generate
from bot.ingest import frontmatter, parsing
from bot.ingest.frontmatter import MAX_FILE_BYTES, ArticleError
from bot.ingest.parsing import parse_article
from bot.models import Image, Provider, Related

VERGE_URL = (
    "https://www.theverge.com/2020/6/8/21284683/"
    "ibm-no-longer-general-purpose-facial-recognition-analysis-software"
)
SECURED = (
    "hv9pHenEU3OZs2PsAdDlOdQwxmO1KMIo1eSwzCiRex4ibU2y7loAeNRntEdWyu4dyW9aFOqLiIeRZEZq"
    "BUAetVxw4i0/lPXeEaLaajw3WwuPw8WAPxBieeoMvHKgFXCDGab86wds+N2iqjfTPySLBZi+rij7PwXw"
    "D6CTy6DrvU5lxMkMP6uZTpzIWBKI/pLYeRh7F37qLYIqfyS/F5qGT4EWwtf0/A+UaD52Av6fWfHgqVQU"
    "3Q7qdnNFwA3UbjwdV0wyJqIFwleM5+VMF0xORhYJjL7WnGU1Qq8BXq+kJ5c3JINMlTJcM2yuplvlyXHh"
    "FvbBTGfITIbNpBKpxduYdNFKvqPKOCKcRvcDd43y2Ct6eRmv1ie01BDFPvBLkTcPHhL9ba43H1MGgW5u"
    "FU+t+s+ipxfZcxIRlL28sVfRxg+SosoHlnVbw1P4cIZZcm+ZVzmgc7CX3xdR2x2r7sMNesmCDTm2Xx3H"
    "kmBvBjBgbtU=;l0wFb8QqamAwxtT37oyvIA=="
)
TITLE = "IBM will no longer offer, develop, or research facial recognition technology"


def article_text(*lines: str, body: str = "") -> str:
    """A minimal valid file with ``lines`` added to its front matter."""
    front = ["title: A story", "webUrl: https://example.com/a", *lines]
    return "---\n" + "\n".join(front) + "\n---\n" + body


def reason(data: bytes | str) -> str:
    with pytest.raises(ArticleError) as caught:
        parse_article(data)
    return str(caught.value)


# --------------------------------------------------------------------------- the seed


def test_seed_file_every_field(seed_path: Path) -> None:
    result = parse_article(seed_path.read_bytes())
    article = result.article

    assert result.warnings == ()
    assert article.id == "j80stkmk"
    assert article.canonical_url == VERGE_URL
    assert article.url == VERGE_URL
    assert article.title == TITLE
    assert article.excerpt == (
        "IBM firmly opposes and will not condone uses of any [facial recognition] technology,"
        " including facial recognition technology offered by other vendors, for mass"
        " surveillance, racial profiling, violations of basic human rights and freedoms,"
    )
    assert article.body == ""
    assert article.amp_url == (
        "https://www.theverge.com/platform/amp/2020/6/8/21284683/"
        "ibm-no-longer-general-purpose-facial-recognition-analysis-software"
    )
    assert article.published_at == datetime(2020, 6, 9, 0, 55, tzinfo=UTC)
    assert article.published_at.tzinfo is UTC
    assert article.type == "article"
    assert article.category == "news"
    assert article.quality == 86
    assert article.heat == -1
    assert article.published is False
    assert article.provider == Provider(
        name="The Verge",
        domain="theverge.com",
        images=(
            Image(
                url="https://smartableai.github.io/artificial-intelligence/assets/images/"
                "organizations/theverge.com-50x50.jpg",
                width=50,
                height=50,
            ),
        ),
    )
    assert article.topics == ("Computer Vision", "AI")
    assert article.images == (
        Image(
            url="https://cdn.vox-cdn.com/thumbor/NGef_YogvtoV899jj-XKnJ_tMws=/0x0:2040x1360/"
            "1400x933/filters:focal(857x517:1183x843):no_upscale()/cdn.vox-cdn.com/uploads/"
            "chorus_image/image/66910133/acastro_180730_1777_facial_recognition_0001.0.jpg",
            width=1400,
            height=933,
            title=TITLE,
        ),
    )
    assert article.related == (
        Related(
            title="IBM stops work on facial recognition over human rights concerns",
            url="https://www.engadget.com/ibm-exits-facial-recognition-business-012915316.html",
            excerpt="IBM is exiting its facial recognition business over concerns of possible"
            " human rights violations and racial biases.",
            amp_url="https://www.engadget.com/amp/ibm-exits-facial-recognition-business-012915316.html",
            published_at=datetime(2020, 6, 9, 1, 8, tzinfo=UTC),
            provider=Provider(name="Engadget", domain="engadget.com"),
            quality=89,
            images=(
                Image(
                    url="https://o.aolcdn.com/images/dims?thumbnail=600%2C350&quality=95"
                    "&image_uri=https%3A%2F%2Fs.yimg.com%2Fos%2Fcreatr-images%2F2020-05%2F"
                    "57216d80-a0fd-11ea-bfed-15a76691dfdb&client=amp-blogside-v2"
                    "&signature=3caba45714d89119f1e3dcf6c427996c35b5e497",
                    width=600,
                    height=350,
                ),
            ),
        ),
        Related(
            title="IBM quits facial recognition business, opposing its use for mass"
            " surveillance, racial profiling",
            url="https://www.straitstimes.com/world/united-states/"
            "ibm-quits-facial-recognition-business-opposing-its-use-for-mass-surveillance",
            excerpt="International Business Machines Corp will no longer offer general purpose"
            " facial recognition or analysis software, new Chief Executive Officer Arvind"
            " Krishna said in a letter to the members of the United States Congress on Monday"
            " (June 8).",
            amp_url=None,
            published_at=datetime(2020, 6, 9, 0, 54, tzinfo=UTC),
            provider=Provider(name="The Straits Times", domain="straitstimes.com"),
            quality=27,
            images=(
                Image(
                    url="https://www.straitstimes.com/sites/default/files/styles/x_large/public/"
                    "articles/2020/06/09/rk_ibm_090620.jpg?itok=MpCKbFL8",
                    width=763,
                    height=509,
                ),
            ),
        ),
    )
    assert article.secured == SECURED
    assert article.extra == {
        "cdnAmpWebUrl": "https://www-theverge-com.cdn.ampproject.org/c/s/www.theverge.com/"
        "platform/amp/2020/6/8/21284683/"
        "ibm-no-longer-general-purpose-facial-recognition-analysis-software"
    }
    assert article.source == "file"


# --------------------------------------------------------------------------- rejected files


def nested_flow(depth: int) -> str:
    return "[" * depth + "]" * depth


def alias_bomb() -> str:
    """Billion laughs: 9 levels of 9 aliases, 9**9 values once expanded."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    names = "abcdefghi"
    for previous, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return article_text(*lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "title: x\nwebUrl: https://example.com/a\n",
            "no front matter: the first line must be ---",
            id="no-front-matter",
        ),
        pytest.param("", "no front matter: the first line must be ---", id="empty-file"),
        pytest.param(
            "\n---\ntitle: x\n---\n",
            "no front matter: the first line must be ---",
            id="blank-first-line",
        ),
        pytest.param(
            "---\ntitle: x\nwebUrl: https://example.com/a\n",
            "front matter is not closed: no second --- line",
            id="unclosed",
        ),
        pytest.param("---\n---\n", "front matter is empty", id="empty-front-matter"),
        pytest.param(
            "---\n# only a comment\n---\nbody\n", "front matter is empty", id="comment-only"
        ),
        pytest.param(
            "---\n- a\n- b\n---\n", "front matter must be a mapping, not list", id="a-list"
        ),
        pytest.param(
            "---\njust text\n---\n", "front matter must be a mapping, not str", id="a-string"
        ),
        pytest.param(
            "---\ntitle: x\nwebUrl: https://example.com/a\nfoo: bar: baz\n---\n",
            "invalid YAML at line 4: mapping values are not allowed in this context",
            id="invalid-yaml-mid",
        ),
        pytest.param(
            "---\ntitle: x\nwebUrl: https://example.com/a\nfoo: [unclosed\n---\n",
            "invalid YAML at line 5: did not find expected ',' or ']'",
            id="invalid-yaml-end",
        ),
        pytest.param(
            "---\nwebUrl: https://example.com/a\n---\n", "title is required", id="missing-title"
        ),
        pytest.param(
            "---\ntitle: ''\nwebUrl: https://example.com/a\n---\n",
            "title is required",
            id="empty-title",
        ),
        pytest.param(
            "---\ntitle: [a, b]\nwebUrl: https://example.com/a\n---\n",
            "title must be text, not list",
            id="title-a-list",
        ),
        pytest.param("---\ntitle: x\n---\n", "webUrl is required", id="missing-webUrl"),
        pytest.param(
            "---\ntitle: x\nwebUrl: 'javascript:alert(1)'\n---\n",
            "webUrl must be an http(s) URL, got 'javascript:alert(1)'",
            id="webUrl-javascript",
        ),
        pytest.param(
            "---\ntitle: x\nwebUrl: ftp://example.com/a\n---\n",
            "webUrl must be an http(s) URL, got 'ftp://example.com/a'",
            id="webUrl-ftp",
        ),
        pytest.param(
            "---\ntitle: x\nwebUrl: /2020/06/story\n---\n",
            "webUrl must be an http(s) URL, got '/2020/06/story'",
            id="webUrl-relative",
        ),
        pytest.param(
            "---\ntitle: x\nwebUrl: example.com/a\n---\n",
            "webUrl must be an http(s) URL, got 'example.com/a'",
            id="webUrl-no-scheme",
        ),
        pytest.param(
            article_text("quality: 101"),
            "quality must be between 0 and 100, got 101",
            id="quality-101",
        ),
        pytest.param(
            article_text("quality: -1"),
            "quality must be between 0 and 100, got -1",
            id="quality-minus-1",
        ),
        pytest.param(
            article_text("quality: abc"), "quality must be an integer, got 'abc'", id="quality-abc"
        ),
        pytest.param(
            article_text("quality: 86.5"), "quality must be an integer, got 86.5", id="quality-86.5"
        ),
        pytest.param(
            article_text("quality: true"), "quality must be an integer, got True", id="quality-bool"
        ),
        pytest.param(article_text("heat: x"), "heat must be an integer, got 'x'", id="heat-x"),
        pytest.param(
            article_text("published: maybe"),
            "published must be true or false, got 'maybe'",
            id="published-maybe",
        ),
        pytest.param(
            article_text("published: 1"), "published must be true or false, got 1", id="published-1"
        ),
        pytest.param(
            article_text("heat: !!int abc"),
            "invalid YAML: invalid literal for int() with base 10: 'abc'",
            id="int-tag-not-a-number",
        ),
        pytest.param(
            article_text(f"heat: {'9' * 5000}"),
            "invalid YAML: Exceeds the limit (4300 digits) for integer string conversion:"
            " value has 5000 digits; use sys.set_in",
            id="int-too-many-digits",
        ),
        pytest.param(
            alias_bomb(), "too many values (over 20000, aliases expanded)", id="alias-bomb"
        ),
        pytest.param(
            article_text("loop: &loop [*loop]"),
            "nested deeper than 24 levels",
            id="recursive-alias",
        ),
        pytest.param(
            article_text(f"deep: {nested_flow(10_000)}"),
            "nesting deeper than 32 levels",
            id="flow-nesting-10000",
        ),
        pytest.param(
            article_text(f"deep: {nested_flow(33)}"),
            "nesting deeper than 32 levels",
            id="flow-nesting-33",
        ),
        pytest.param(
            article_text(f"deep: {nested_flow(30)}"),
            "nested deeper than 24 levels",
            id="flow-nesting-30",
        ),
        pytest.param(
            article_text("deep:", "- " * 10_000 + "x"),
            "indentation or block nesting deeper than 128",
            id="block-nesting-dashes",
        ),
        pytest.param(
            article_text(
                "deep:", *(" " * n + f"k{n}:" for n in range(1, 1_000)), " " * 1_000 + "x"
            ),
            "indentation or block nesting deeper than 128",
            id="block-nesting-indent",
        ),
    ],
)
def test_rejected_with_reason(text: str, expected: str) -> None:
    assert reason(text) == expected


def test_alias_chain_deeper_than_the_limit_is_rejected() -> None:
    # each line adds one level through an alias: 10,000 levels from shallow-looking text
    lines = ["l0: &l0 [x]", *(f"l{n}: &l{n} [*l{n - 1}]" for n in range(1, 10_000))]
    assert reason(article_text(*lines)) == "nested deeper than 24 levels"


TOO_MUCH_TEXT = "values exceed 2 MiB of text with aliases expanded"
BIG = "x" * 200_000


@pytest.mark.parametrize(
    "lines",
    [
        # a 216 KB file that was an 800 MB article: one 200 KB string aliased 4,000 times
        pytest.param([f"s: &s {BIG}", "l: [" + ", ".join(["*s"] * 4000) + "]"], id="flow"),
        pytest.param([f"s: &s {BIG}", "l:", *(["- *s"] * 4000)], id="block"),
        pytest.param(
            [f"s: &s {BIG}", "m: {" + ", ".join(f'"k{n}":*s' for n in range(4000)) + "}"],
            id="quoted-keys",
        ),
        pytest.param(
            [f"s: &s '{BIG}'", "l: [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s, *s]"], id="just-over"
        ),
        # as long keys, and as bytes (stored as hex: twice as long)
        pytest.param([f"k: &k {BIG}", "l: [" + ", ".join(["{*k : 1}"] * 11) + "]"], id="keys"),
        pytest.param(
            [f"b: &b !!binary {'QUJD' * 40_000}", "l: [" + ", ".join(["*b"] * 9) + "]"], id="binary"
        ),
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_text_over_the_budget_with_aliases_expanded_is_rejected_early(
    lines: list[str], fast: bool
) -> None:
    front = article_text(*lines).split("\n---\n")[0].removeprefix("---\n")
    tracemalloc.start()
    try:
        with pytest.raises(ArticleError) as caught:
            frontmatter.load_front_matter(front, fast=fast)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(caught.value) == TOO_MUCH_TEXT
    # The walk stopped at the budget: nothing the size of the expanded text (up to 800
    # MB) was built, only PyYAML's reading of the file.
    assert peak < 8 * 1024 * 1024


def test_text_just_within_the_budget_with_aliases_expanded_is_accepted() -> None:
    # 10 x 200,000 characters and the other values' text: within 2 MiB (2,097,152)
    text = article_text(f"s: &s {BIG}", "l: [*s, *s, *s, *s, *s, *s, *s, *s, *s]")
    assert parse_article(text).article.extra["l"] == [BIG] * 9


def test_a_file_over_the_budget_is_rejected_with_the_reason() -> None:
    text = article_text(f"s: &s {BIG}", "l: [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s]")
    assert reason(text.encode()) == TOO_MUCH_TEXT
    assert parsing.parse_file(text.replace("*s]", "x]").encode()).article["extra"]["s"] == BIG


def test_merge_keys_repeated_over_a_large_mapping_are_counted_before_they_are_built() -> None:
    # PyYAML's constructor took 9 s over 40 million merged pairs for a 99 KB file
    # (2,000 keys merged 20,000 times), for a mapping of 2,000 values.
    keys = ", ".join(f"k{n}: 1" for n in range(2000))
    text = article_text(f"b: &b {{{keys}}}", "c: {<<: [" + ", ".join(["*b"] * 2000) + "]}")
    assert reason(text) == "too many values (over 20000, aliases expanded)"
    # the same merge, once, is read
    once = article_text(f"b: &b {{{keys}}}", "c: {<<: [*b], k0: 2}")
    assert parse_article(once).article.extra["c"] == {
        f"k{n}": 2 if n == 0 else 1 for n in range(2000)
    }


def test_python_tags_are_rejected_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = article_text(f'x: !!python/object/apply:os.system ["touch {marker}"]')
    assert reason(text) == (
        "invalid YAML at line 4: could not determine a constructor for the tag"
        " 'tag:yaml.org,2002:python/object/apply:os.system'"
    )
    assert not marker.exists()


def test_not_utf8() -> None:
    assert reason(b"---\ntitle: caf\xe9\n---\n") == "not UTF-8 text (byte 14)"


def test_size_limit() -> None:
    text = article_text(body="")
    exactly = text.encode() + b"x" * (MAX_FILE_BYTES - len(text.encode()))
    assert len(exactly) == MAX_FILE_BYTES
    assert parse_article(exactly).article.title == "A story"
    assert reason(exactly + b"x") == "file larger than 1024 KiB"
    assert reason(exactly.decode() + "x") == "file larger than 1024 KiB"


# --------------------------------------------------------------------------- accepted values


@pytest.mark.parametrize(
    ("line", "quality"),
    [
        ("quality: 0", 0),
        ("quality: 100", 100),
        ("quality: '86'", 86),
        ("quality: ' 86 '", 86),
        ("quality: 86.0", 86),
        ("quality: ''", None),  # unknown, as a missing one
        ("quality: null", None),
        ("heat: 1", None),  # no quality key
    ],
)
def test_quality_accepted(line: str, quality: int | None) -> None:
    assert parse_article(article_text(line)).article.quality == quality


@pytest.mark.parametrize(
    ("line", "heat"),
    [("heat: -5", -5), ("heat: '7'", 7), ("heat: 12.0", 12), ("heat: 123456789012", 123456789012)],
)
def test_heat_accepted(line: str, heat: int) -> None:
    assert parse_article(article_text(line)).article.heat == heat


@pytest.mark.parametrize(
    ("line", "published"),
    [
        ("published: true", True),
        ("published: false", False),
        ("published: 'yes'", True),
        ("published: 'no'", False),
        ("published: null", False),
    ],
)
def test_published_accepted(line: str, published: bool) -> None:
    assert parse_article(article_text(line)).article.published is published


@pytest.mark.parametrize(
    "line",
    [
        "publishedDateTime: 2020-06-09T00:55:00Z",
        "publishedDateTime: 2020-06-09T02:55:00+02:00",
        "publishedDateTime: '2020-06-09T02:55:00+02:00'",
        "publishedDateTime: '2020-06-08T20:55:00-04:00'",
        "publishedDateTime: '2020-06-09T00:55:00Z'",
        "publishedDateTime: '2020-06-09T00:55:00'",
        "publishedDateTime: 2020-06-09 00:55:00",
    ],
)
def test_published_time_normalised_to_utc(line: str) -> None:
    published_at = parse_article(article_text(line)).article.published_at
    assert published_at == datetime(2020, 6, 9, 0, 55, tzinfo=UTC)
    assert published_at.tzinfo is UTC


def test_a_date_alone_is_midnight_utc() -> None:
    published_at = parse_article(article_text("publishedDateTime: 2020-06-09")).article.published_at
    assert published_at == datetime(2020, 6, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("yesterday", "'yesterday'"),
        ("2020-13-45", "'2020-13-45'"),
        ("'2020-06-31T10:00:00'", "'2020-06-31T10:00:00'"),
        ("42", "42"),
    ],
)
def test_unparseable_time_is_unknown_with_a_warning(value: str, shown: str) -> None:
    result = parse_article(article_text(f"publishedDateTime: {value}"))
    assert result.article.published_at is None
    assert result.warnings == (
        f"publishedDateTime: not a date and time, treated as unknown: {shown}",
    )


# --------------------------------------------------------------------------- dropped with a warning


def test_non_http_urls_are_dropped_with_warnings() -> None:
    result = parse_article(
        article_text(
            "ampWebUrl: 'javascript:alert(1)'",
            "images:",
            "  - url: ftp://example.com/a.jpg",
            "  - url: https://example.com/b.jpg",
            "provider:",
            "  name: P",
            "  images:",
            "    - url: 'data:image/png;base64,AAAA'",
            "related:",
            "  - title: Bad",
            "    webUrl: 'javascript:alert(2)'",
            "  - title: Good",
            "    webUrl: https://example.org/good",
            "    ampWebUrl: file:///etc/passwd",
        )
    )
    article = result.article
    assert article.amp_url is None
    assert article.images == (Image(url="https://example.com/b.jpg"),)
    assert article.provider == Provider(name="P")
    assert article.related == (Related(title="Good", url="https://example.org/good"),)
    assert result.warnings == (
        "ampWebUrl: not an http(s) URL, dropped: 'javascript:alert(1)'",
        "provider.images[0].url: not an http(s) URL, dropped: 'data:image/png;base64,AAAA'",
        "images[0].url: not an http(s) URL, dropped: 'ftp://example.com/a.jpg'",
        "related[0].webUrl: not an http(s) URL, dropped: 'javascript:alert(2)'",
        "related[1].ampWebUrl: not an http(s) URL, dropped: 'file:///etc/passwd'",
    )


def test_related_lists_each_url_once_and_keeps_a_quality_above_100() -> None:
    result = parse_article(
        article_text(
            "related:",
            "  - {title: Forbes one, webUrl: 'https://www.forbes.com/a/', quality: 120}",
            "  - {title: Wire, webUrl: 'https://wire.example/b', quality: 30}",
            "  - {title: Forbes two, webUrl: 'https://WWW.forbes.com/a?utm_source=x', quality: 99}",
        )
    )
    assert [(r.title, r.url, r.quality) for r in result.article.related] == [
        ("Forbes one", "https://www.forbes.com/a/", 120),
        ("Wire", "https://wire.example/b", 30),
    ]
    assert result.warnings == ()


def test_related_without_url_is_dropped_with_a_warning() -> None:
    result = parse_article(article_text("related:", "  - title: No link"))
    assert result.article.related == ()
    assert result.warnings == ("related[0]: no webUrl; dropped",)


# --------------------------------------------------------------------------- topics


def test_a_single_topic_string_is_accepted() -> None:
    assert parse_article(article_text("topics: AI")).article.topics == ("AI",)


def test_topics_deduplicated_by_case_keeping_the_first_spelling() -> None:
    result = parse_article(article_text("topics: [Machine Learning, AI, machine learning, ai, Ai]"))
    assert result.article.topics == ("Machine Learning", "AI")
    assert result.warnings == ()


def test_topics_deduplicated_by_accents_keeping_the_first_spelling() -> None:
    result = parse_article(article_text("topics: [Mexico, M\u00e9xico, Me\u0301xico, Z\u00fcrich]"))
    assert result.article.topics == ("Mexico", "Z\u00fcrich")
    assert result.warnings == ()


def test_topics_whitespace_collapsed_and_non_text_dropped() -> None:
    result = parse_article(article_text("topics: ['  Computer   Vision ', 3, true, null]"))
    assert result.article.topics == ("Computer Vision", "3")
    assert result.warnings == (
        "topics: True is not text; dropped",
        "topics: None is not text; dropped",
    )


# --------------------------------------------------------------------------- text form


def test_bom_and_crlf_parse_like_lf(seed_path: Path) -> None:
    lf = seed_path.read_bytes()
    assert b"\r" not in lf
    crlf = lf.replace(b"\n", b"\r\n")
    expected = parse_article(lf)
    assert parse_article(b"\xef\xbb\xbf" + lf) == expected
    assert parse_article(crlf) == expected
    assert parse_article(b"\xef\xbb\xbf" + crlf) == expected
    assert parse_article("\ufeff" + crlf.decode()) == expected


def test_body_after_front_matter_is_kept() -> None:
    text = article_text(body="\n# Longer description\n\nIt goes *on*.\n\n")
    assert parse_article(text).article.body == "# Longer description\n\nIt goes *on*."


def test_crlf_body_is_kept_with_lf() -> None:
    text = article_text(body="one\ntwo\n").replace("\n", "\r\n")
    assert parse_article(text).article.body == "one\ntwo"


def test_unknown_keys_are_kept_in_extra_with_iso_dates() -> None:
    result = parse_article(
        article_text(
            "cdnAmpWebUrl: https://cdn.example.com/a",
            "seen: 2020-06-09",
            "checked: 2020-06-09T02:55:00+02:00",
            "tags: {one: 1, two: [a, b]}",
            "score: 1.5",
        )
    )
    assert result.article.extra == {
        "cdnAmpWebUrl": "https://cdn.example.com/a",
        "seen": "2020-06-09",
        "checked": "2020-06-09T02:55:00+02:00",
        "tags": {"one": 1, "two": ["a", "b"]},
        "score": 1.5,
    }
    assert result.warnings == ()


# --------------------------------------------------------------------------- plain values


def _by_the_rules(monkeypatch: pytest.MonkeyPatch, apply: Any) -> tuple[Any, list[str]]:
    """``apply(fields)`` with the plain-value shortcuts off: the rules decide alone."""
    with monkeypatch.context() as patched:
        for name in ("_plain_image", "_plain_images", "_plain_provider", "_plain_related"):
            patched.setattr(parsing, name, lambda *_: None)
        fields = parsing._Fields()
        return apply(fields), fields.warnings


def test_plain_value_shortcuts_agree_with_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random images, providers and related items, good and bad: the same result and the
    same warnings with the shortcuts as by the rules alone."""
    rng = random.Random(7)
    when = datetime(2024, 3, 4, 5, 0, tzinfo=UTC)
    # (values the shortcuts may take, values only the rules take)
    choices: dict[str, tuple[list[Any], list[Any]]] = {
        "url": (["https://a.example/x", " http://b.example "], ["ftp://c", "", None, 5]),
        "width": ([None, 0, 50, 100_000], [100_001, -1, "50", 5.0, True, ""]),
        "title": ([None, "", "  A  b\n c ", "T", "x" * 20_010], [5, ["x"]]),
        "name": ([" Name ", "N"], [None, "", 7, {"a": 1}]),
        "domain": ([None, "", " d.example "], [3]),
        "quality": ([None, 0, 100, 101, 2**53], [2**53 + 1, -1, "7", True, 7.0]),
        "when": (
            [
                None,
                when,
                datetime(2024, 3, 4, 7, 0),
                datetime(2024, 3, 4, 7, 0, tzinfo=timezone(timedelta(hours=2))),
            ],
            ["", "2024-03-04T05:00:00Z", "soon", date(2024, 3, 4)],
        ),
    }

    def pick(kind: str) -> Any:
        good, bad = choices[kind]
        return rng.choice(bad if rng.random() < 0.08 else good)

    def image() -> Any:
        fields = {"url": pick("url"), "width": pick("width"), "height": pick("width")}
        if rng.random() < 0.5:
            fields["title"] = pick("title")
        return fields if rng.random() < 0.9 else rng.choice([pick("url"), ["not", "an image"]])

    def images() -> Any:
        return rng.choice(
            [None, [], [image()], [image()], [image(), image()], image(), [image()] * 21]
        )

    def provider() -> Any:
        fields = {"name": pick("name"), "domain": pick("domain"), "images": images()}
        return fields if rng.random() < 0.9 else rng.choice([None, pick("name"), 5])

    def related() -> Any:
        fields = {
            rng.choice(["webUrl", "url"]): pick("url"),
            "title": pick("title"),
            "excerpt": pick("title"),
            "ampWebUrl": pick("url"),
            "publishedDateTime": pick("when"),
            "provider": provider(),
            "quality": pick("quality"),
            "images": images(),
        }
        for key in rng.sample(sorted(fields), rng.randint(0, 3)):
            del fields[key]
        return fields if rng.random() < 0.95 else "not a mapping"

    cases = [("images", images()) for _ in range(3_000)]
    cases += [("provider", provider()) for _ in range(3_000)]
    cases += [("related", [related() for _ in range(rng.randint(1, 3))]) for _ in range(6_000)]
    built = {"_plain_image": 0, "_plain_provider": 0, "_plain_related": 0}
    for name in built:
        monkeypatch.setattr(parsing, name, _counted(getattr(parsing, name), built, name))
    for method, value in cases:

        def apply(fields: Any, method: str = method, value: Any = value) -> Any:
            return (
                getattr(fields, method)(value, method)
                if method != "related"
                else fields.related(value)
            )

        fields = parsing._Fields()
        got = apply(fields)
        assert (got, fields.warnings) == _by_the_rules(monkeypatch, apply)
    assert min(built.values()) > 400, built  # each shortcut really built values


def _counted(function: Any, counts: dict[str, int], name: str) -> Any:
    def counting(*args: Any) -> Any:
        result = function(*args)
        counts[name] += result is not None
        return result

    return counting


def test_plain_value_shortcuts_agree_with_the_rules_for_the_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(tmp_path, 300, seed=11)
    for path in sorted(tmp_path.rglob("*.txt")):
        front, body = parsing._front_and_body(path.read_bytes())
        data = frontmatter.load_front_matter(front)
        by_the_rules = _by_the_rules(monkeypatch, lambda _, d=data, b=body: parsing.normalise(d, b))
        assert parsing.normalise(data, body) == by_the_rules[0]
