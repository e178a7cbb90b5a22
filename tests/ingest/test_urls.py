"""URL rules: canonical form, which URLs may reach Discord, and short ids."""

from __future__ import annotations

import random

import pytest

from bot.ingest.urls import canonical_url, id_prefix, is_http_url, normalise_id, short_id

SEED_CANONICAL = (
    "https://www.theverge.com/2020/6/8/21284683/"
    "ibm-no-longer-general-purpose-facial-recognition-analysis-software"
)
ALPHABET = set("0123456789abcdefghjkmnpqrstvwxyz")


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://WWW.Example.COM/a", "https://www.example.com/a"),
        ("https://example.com/A/B", "https://example.com/A/B"),  # the path keeps its case
        ("https://example.com./a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a/", "https://example.com/a"),
        ("https://example.com/a/b//", "https://example.com/a/b"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com//", "https://example.com/"),
        ("https://example.com/?", "https://example.com/"),
        ("https://example.com/a?utm_source=x&utm_medium=y&UTM_Campaign=z", "https://example.com/a"),
        ("https://example.com/a?fbclid=1&gclid=2&msclkid=3", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?id=7&utm_source=x&page=2", "https://example.com/a?id=7&page=2"),
        ("https://example.com/a?q=&x=1", "https://example.com/a?q=&x=1"),
        ("https://example.com/a?b=1&a=2&a=1", "https://example.com/a?a=1&a=2&b=1"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://user:secret@example.com/a", "https://example.com/a"),
        ("HTTPS://WWW.Example.com/a/?utm_source=x#frag", "https://www.example.com/a"),
        ("http://[::1]:8080/a/", "http://[::1]:8080/a"),
        ("https://[2001:DB8::1]/x", "https://[2001:db8::1]/x"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_the_shortcut_for_plain_urls_agrees_with_full_parsing() -> None:
    from bot.ingest.urls import _CANONICAL_ALREADY, _canonical_parsed

    rng = random.Random(5)
    pieces = [
        *("a", "b.", "-", "9", "/", "//", "x", "%2F", ";", "@", ":", "?", "#", "="),
        *("&", ".", "é", "A", "[", "~", "utm_source", " ", "\t"),
    ]
    urls = ["https://" + "".join(rng.choices(pieces, k=rng.randint(1, 12))) for _ in range(20_000)]
    urls += [
        "http://" + "".join(rng.choices(pieces[:10], k=rng.randint(1, 8))) for _ in range(5_000)
    ]
    shortcut = [u for u in urls if _CANONICAL_ALREADY.match(u.strip())]
    assert len(shortcut) > 1_000  # the shortcut is really exercised
    for url in urls:
        try:
            expected = _canonical_parsed(url.strip())
        except ValueError:  # a malformed port or host: never a shortcut
            assert not _CANONICAL_ALREADY.match(url.strip())
            continue
        assert canonical_url(url) == expected, url


def test_the_shortcut_for_plain_http_urls_agrees_with_full_parsing() -> None:
    from bot.ingest.urls import _SIMPLE_HTTP, _is_http_parsed

    rng = random.Random(6)
    pieces = [
        *("a", "Z", "b.", "-", "9", "/", "//", "%2F", ";", "@", ":", "?", "#", "=", "~"),
        *("&", ".", "é", "[", "]", " ", "\t", "\x7f", "\x01", "\u00ad", "\u2028"),
    ]
    schemes = ("https://", "http://", "HTTPS://", "hTtP://", "ftp://", "https:/", "")
    hosts = ["a", "Z", "b.", "-", "9", "é", ":8", "@", "[::1]", " "]
    urls = [
        rng.choice(schemes)
        + "".join(rng.choices(hosts[: k // 3], k=rng.randint(0, 4)))
        + rng.choice(("/", ""))
        + "".join(rng.choices(pieces[:k], k=rng.randint(0, 8)))
        for k in (15, len(pieces))
        for _ in range(15_000)
    ]
    shortcut = sum(1 for u in urls if _SIMPLE_HTTP.match(u))
    assert shortcut > 3_000  # the shortcut is exercised
    assert sum(1 for u in urls if _is_http_parsed(u)) > shortcut + 3_000  # and so is the rest
    for url in urls:
        assert is_http_url(url) is _is_http_parsed(url), url


def test_canonical_url_is_idempotent_and_stays_a_valid_url() -> None:
    for url in ("HTTPS://WWW.Example.com/a/?utm_source=x&b=1#frag", "http://[::1]:8080/a/"):
        once = canonical_url(url)
        assert canonical_url(once) == once
        assert is_http_url(once)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://example.com", True),
        ("http://example.com/a?b=c#d", True),
        ("HTTP://EXAMPLE.COM/", True),
        ("https://example.com:8443/a", True),
        ("http://127.0.0.1:8080/", True),
        ("http://[::1]/", True),
        ("ftp://example.com/a", False),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("data:text/html,<b>hi</b>", False),
        ("file:///etc/passwd", False),
        ("mailto:someone@example.com", False),
        ("//example.com/a", False),
        ("/relative/path", False),
        ("example.com/a", False),
        ("https://", False),
        ("https:///path-only", False),
        ("https://exa mple.com/", False),
        ("https://example.com/a b", False),
        ("https://example.com/\n", False),
        ("https://example.com/\x00", False),
        ("https://example.com:99999/", False),
        ("https://example.com:port/", False),
        ("https://example.com/" + "a" * 2028, True),  # 2048 characters: the limit
        ("https://example.com/" + "a" * 2029, False),
        ("", False),
        (None, False),
        (42, False),
        (b"https://example.com", False),
        (["https://example.com"], False),
    ],
)
def test_is_http_url(value: object, expected: bool) -> None:
    assert is_http_url(value) is expected


def test_short_id_exact_values() -> None:
    assert short_id(SEED_CANONICAL) == "j80stkmk"
    assert short_id(SEED_CANONICAL, 12) == "j80stkmk17r3"
    assert short_id(SEED_CANONICAL, 16) == "j80stkmk17r3f53s"
    assert short_id("https://example.com/a") == short_id("https://example.com/a")


def test_short_id_longer_forms_extend_the_short_one() -> None:
    for n in range(200):
        canonical = f"https://example.com/story/{n}"
        assert short_id(canonical, 12).startswith(short_id(canonical, 8))
        assert short_id(canonical, 16).startswith(short_id(canonical, 12))


def test_short_id_alphabet_has_no_i_l_o_u() -> None:
    ids = [short_id(f"https://example.com/{n}", 16) for n in range(2000)]
    used = set("".join(ids))
    assert used == ALPHABET  # 32000 characters use every one of the 32
    assert not used & set("ilou")
    assert len(set(ids)) == 2000


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("j80stkmk", "j80stkmk"),
        ("J80STKMK", "j80stkmk"),
        ("  j80s-tkmk ", "j80stkmk"),
        ("j80s tkmk", "j80stkmk"),
        ("j8Ostkmk", "j80stkmk"),  # a letter O typed for the zero
        ("I1l", "111"),
        ("", ""),
    ],
)
def test_normalise_id(typed: str, expected: str) -> None:
    assert normalise_id(typed) == expected


def test_an_id_prefix_is_at_most_as_long_as_the_longest_id() -> None:
    longest = short_id("https://example.com/a", 16)
    assert id_prefix(longest.upper()) == longest  # the longest ids are still found
    assert id_prefix(f" {longest[:8]}-{longest[8:]} ") == longest
    assert id_prefix(longest + "x") is None
    assert id_prefix("openai announces a new model for speech") is None  # 31 characters
    assert id_prefix("open ai") == "0pena1"


@pytest.mark.parametrize(
    ("urls", "canonical"),
    [
        # an unreserved character percent-encoded or not, in any case of hex
        (("https://e.org/%7Euser/a", "https://e.org/~user/a", "https://e.org/%7euser/a"),
         "https://e.org/~user/a"),
        (("https://e.org/%41%2d%5F%2E/", "https://e.org/A-_./"), "https://e.org/A-_."),
        # other escapes keep their meaning (%2F is not /), in upper case
        (("https://e.org/a%2fb", "https://e.org/a%2Fb"), "https://e.org/a%2Fb"),
        (("https://e.org/a%20b%3f", "https://e.org/a%20b%3F"), "https://e.org/a%20b%3F"),
        # characters a URL cannot hold as they are: escaped as UTF-8
        (("https://e.org/caf%c3%a9", "https://e.org/café", "https://e.org/caf%C3%A9"),
         "https://e.org/caf%C3%A9"),
        (("https://e.org/a{b}|c", "https://e.org/a%7bb%7d%7cc"), "https://e.org/a%7Bb%7D%7Cc"),
        # an internationalised host and its punycode
        (("https://bücher.example/a", "https://xn--bcher-kva.example/a",
          "https://BÜCHER.Example/a", "https://XN--BCHER-KVA.example/a"),
         "https://xn--bcher-kva.example/a"),
        (("https://faß.de/", "https://xn--fa-hia.de/"), "https://xn--fa-hia.de/"),
        (("https://bücher。example/x", "https://ｂücher.example/x"),
         "https://xn--bcher-kva.example/x"),
        (("https://ｅｘａｍｐｌｅ.com/a", "https://example.com/a"), "https://example.com/a"),
        (("https://日本.jp/ニュース?q=%7e", "https://xn--wgv71a.jp/%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9?q=~"),
         "https://xn--wgv71a.jp/%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9?q=~"),
        # the query was already decoded and encoded again: the same rules hold there
        (("https://e.org/a?q=%7e&r=%2f", "https://e.org/a?r=%2F&q=~"), "https://e.org/a?q=~&r=%2F"),
        # a % that is no escape is kept as written
        (("https://e.org/100%",), "https://e.org/100%"),
        (("https://e.org/%zz%2",), "https://e.org/%zz%2"),
        (("https://e.org/a%257E",), "https://e.org/a%257E"),  # %25 is "%": not %7E
    ],
)  # fmt: skip
def test_urls_that_differ_only_in_encoding_have_one_canonical_form(
    urls: tuple[str, ...], canonical: str
) -> None:
    assert [canonical_url(url) for url in urls] == [canonical] * len(urls)
    assert canonical_url(canonical) == canonical
    assert is_http_url(canonical)
