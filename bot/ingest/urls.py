"""URL rules: which URLs may reach Discord, canonical form, and the short article id."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

# Query parameters that only track the reader; they never identify a different story.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ocid",
        "cmpid",
        "ncid",
        "sr_share",
        "smid",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "hsa_")

# Crockford's base32, lower case: no i, l, o, u, so an id is easy to read out and type.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_LENGTHS = (8, 12, 16)
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
# scheme, a plain host name, then a path of printable ASCII: always valid (no user, port or
# brackets to check). Without IGNORECASE and a negated class: 706 -> 342 ns a URL.
_SIMPLE_HTTP = re.compile(r"[hH][tT][tT][pP][sS]?://[A-Za-z0-9.-]+(?:/[!-~]*)?\Z")
# Lower-case scheme and host, no port, user, query or fragment, a path of characters
# that are never percent-encoded (no escape to normalise): canonical but for a trailing
# slash, checked without parsing the URL (tests/ingest/test_urls.py holds the two equal)
_CANONICAL_ALREADY = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)*)"
    r"(?P<path>/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*)?\Z"
)
# RFC 3986's unreserved characters: percent-encoded or not, they are the same URL (2.3)
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# What a path keeps as written: the reserved characters allowed in a path (their escapes
# may mean something else: %2F is not /) and "%" (escapes, normalised apart)
_PATH_SAFE = "!$&'()*+,;=:@/%~"
_NEEDS_ESCAPE = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]")  # what quote() would escape
# The dots that separate the labels of an internationalised host name (UTS #46)
_LABEL_DOTS = re.compile("[.\u3002\uff0e\uff61]")
_UNSAFE = re.compile(r"[\s\x00-\x1f]")  # white space (Unicode too) and control characters


def is_http_url(value: object) -> bool:
    """True for an absolute http(s) URL with a host, the only kind Discord embeds accept."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH:
        return False
    if _SIMPLE_HTTP.match(value):  # the common case, without a full parse
        return True
    return _is_http_parsed(value)


def _is_http_parsed(value: str) -> bool:
    if _UNSAFE.search(value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The form under which two URLs count as the same story.

    Scheme and host are lower-cased, a default port, the fragment, a trailing slash and
    tracking parameters are dropped, and the remaining parameters are sorted. URLs that
    differ only in encoding have one form: an internationalised host is written in
    punycode (``bücher.example`` is ``xn--bcher-kva.example``), and in the path escapes
    of unreserved characters are decoded (``%7E`` is ``~``), other escapes are in upper
    case (``%2f`` is ``%2F``), and characters a URL cannot hold as they are (non-ASCII,
    space, quotes…) are percent-encoded as UTF-8 (``é`` is ``%C3%A9``).
    """
    url = url.strip()
    plain = _CANONICAL_ALREADY.match(url)
    if plain is None:
        return _canonical_parsed(url)
    path = plain["path"] or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return f"{plain['scheme']}://{plain['host']}{path}"


def _canonical_parsed(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = _ascii_host(parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address keeps its brackets
    port = parts.port
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = _normal_path(parts.path) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    )
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))


def _ascii_host(host: str) -> str:
    """A host name in lower case, an internationalised one in its ASCII form (each label
    mapped as UTS #46 maps it, near enough: NFKC and lower case; then punycode), as a
    browser sends it."""
    host = host.lower()
    if host.isascii():
        return host
    labels = _LABEL_DOTS.split(unicodedata.normalize("NFKC", host).lower())
    return ".".join(label if label.isascii() else _punycode(label) for label in labels)


def _punycode(label: str) -> str:
    try:
        return "xn--" + label.encode("punycode").decode("ascii")
    except UnicodeError:  # (a lone surrogate) kept as it is: it can match only itself
        return label


def _normal_path(path: str) -> str:
    """A path with the escapes of unreserved characters decoded, the others in upper case,
    and the characters that must be escaped escaped as UTF-8 (RFC 3986, 6.2.2.1-2)."""
    if "%" in path:
        path = _ESCAPE.sub(_unescape, path)
    if path.isascii() and not _NEEDS_ESCAPE.search(path):
        return path
    return quote(path, safe=_PATH_SAFE, errors="surrogatepass")


def _unescape(match: re.Match[str]) -> str:
    char = chr(int(match[1], 16))
    return char if char in _UNRESERVED else match[0].upper()


def short_id(canonical: str, length: int = ID_LENGTHS[0]) -> str:
    """A stable, human-typeable id derived from the canonical URL."""
    number = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:10], "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def normalise_id(text: str) -> str:
    """Read an id the way a person may type it: case, spaces, and o/i/l for 0/1/1."""
    table = str.maketrans({"o": "0", "i": "1", "l": "1"})
    return text.strip().lower().replace("-", "").replace(" ", "").translate(table)


def id_prefix(text: str) -> str | None:
    """``text`` read as the start of an id (normalise_id), or None when it is longer than
    any id: then no id starts with it, and an autocomplete asks no index."""
    prefix = normalise_id(text)
    return prefix if len(prefix) <= ID_LENGTHS[-1] else None
