"""Front matter → plain values: an article file's YAML read safely, at a cost bounded
before it is paid, with one verdict whichever of the two YAML readers answers.

yaml-rs (YAML 1.2) reads plain documents fast; PyYAML's safe loader (YAML 1.1) is the
reference, and decides every document where the two could differ. Pure: text in, plain
values (or an :class:`ArticleError`) out.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any, cast

import yaml

# What one file may cost. Real articles are a few KB with nesting of depth 4.
MAX_FILE_BYTES = 1024 * 1024
TOO_LARGE = f"file larger than {MAX_FILE_BYTES // 1024} KiB"
MAX_FLOW_DEPTH = 32  # [ and { nesting
MAX_INDENT = 128  # leading spaces and block markers on one line
MAX_NODES = 20_000  # values after expanding aliases
# Characters of text in all values and keys, aliases expanded: a 200 KB string aliased
# 4,000 times is a 228 KB file and an 800 MB article.
MAX_VALUE_CHARS = 2 * 1024 * 1024
TOO_MUCH_TEXT = (
    f"values exceed {MAX_VALUE_CHARS // (1024 * 1024)} MiB of text with aliases expanded"
)
MAX_DEPTH = 24
# (searched in "\n" + text: a literal first character lets the regex engine skip ahead)
_DEEP_LINE = re.compile(rf"\n[ \t\-?:]{{{MAX_INDENT + 1}}}")
# the line that closes the front matter: --- or ..., maybe followed by white space
_CLOSING_LINE = re.compile(r"\n(?:---|\.\.\.)[^\S\n]*(?=\n|\Z)")  # searched in "\n" + text


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, except that an impossible date (2020-13-45) stays text."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)

try:  # optional: much faster on plain documents (see _fast_load)
    import yaml_rs
except ImportError:  # pragma: no cover - PyYAML alone is complete
    yaml_rs = None  # type: ignore[assignment]

_UNSURE = object()
# Where YAML 1.1 (PyYAML) and 1.2 (yaml-rs) may read a document differently: a tag, an
# anchor or an alias; a merge key; a plain scalar that YAML 1.1 reads otherwise (y/n,
# yes/no, on/off, sexagesimal 1:30, octal 017, 1e3, 1_000, .5; and _1 or 1e_1, numbers to
# yaml-rs); a date but in the plain forms both read alike (2020-06-09,
# 2020-06-09T00:55:00Z): PyYAML also takes 2020-6-9 and 9:05, and yaml-rs 2020-06-09
# 00:55 (no seconds).
_RISKY = r"""(?:(?i:y|n|yes|no|on|off)
    |[-+]?(?:0[\d_oObBxX][\w.]*|\d[\d_]*(?:\.[\d_]*)?[eE][-+]?[\d_]+|\d[\d_]*(?::[0-5]?\d)+(?:\.[\d_]*)?
    |\d+_[\d_]*|\.\d[\w.+-]*|\.?_[\w.+-]*)
    |\d{4}-(?!\d\d-\d\d(?:T\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?)?[ \t]*(?:$|\#|[,\]\}]))
     [^\n\#,\]\}]*)"""
# A tag, anchor or alias: at a line's start, after white space or a flow indicator, or
# right after a ":" (a quoted key's value may follow it directly: {"k":*a}) or a "?" (in
# flow context, a key indicator to YAML 1.1 even with no space after it: [?!foo x]). A
# lone "!" is a tag too ("! 0" is text to YAML 1.1).
_NODE_MARK = re.compile(r"(?:^|[\s\[\{,:?])(?:!|[&*]\S)", re.MULTILINE)
# A block value after ": ", "- " or "? ", on that line or a later one (x:\n  yes). One
# pattern per indicator, each starting with a literal, lets the regex engine skip ahead
# (one pattern with a class is slower); the lookahead fails most values at their
# first character. With a "#" in the text, comments may come between (x: # c\n  yes).
# After ":", the values most files hold, a decimal integer or a date in a form both read
# alike, are passed over before the alternatives are tried.
_PLAIN_NUMBER_OR_DATE = r"""(?![-+]?[1-9][0-9]*[ \t]*(?:\#.*)?$
    |\d{4}-\d\d-\d\d(?:T\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?)?[ \t]*(?:$|\#))"""
_BLOCK_VALUES, _COMMENTED_BLOCK_VALUES = (
    tuple(
        re.compile(
            rf"{indicator}{separator}(?=[-+._\dyYnNoO]){skip}{_RISKY}[ \t]*(?:\#.*)?$",
            re.MULTILINE | re.VERBOSE,
        )
        for indicator, skip in ((":", _PLAIN_NUMBER_OR_DATE), ("-", ""), (r"\?", ""))
    )
    for separator in (r"[ \t\n]++", r"(?:[ \t\n]|\#[^\n]*)+")
)
# A block scalar (| or >) with nothing in it: "" to PyYAML, "\n" to yaml-rs; and one
# whose indicator starts a line (x:\n  |), where its parent's indentation is unknown here
_EMPTY_BLOCK = re.compile(
    r"^([ \t]*)\S[^\n]*[ \t][|>][-+0-9]*[ \t]*(?:#[^\n]*)?\n(?!\1[ \t]+\S)", re.M
)
_LONE_BLOCK = re.compile(r"\n[ \t]*[|>][-+0-9]*[ \t]*(?:#[^\n]*)?$", re.M)
# yaml-rs reads a timestamp's text as a date in any style, PyYAML only when plain: a
# quoted one ("2020-06-09", or made of escapes: "\x32020-06-09"), or a block scalar with
# its final line break stripped (|- or >-)
_QUOTED_DATE, _SINGLE_QUOTED_DATE = re.compile(r'"\d{4}-'), re.compile(r"'\d{4}-")
_STRIPPED_BLOCK = re.compile(r"[|>](?:[1-9]?-|-[1-9])[ \t]*(?:#[^\n]*)?$", re.M)
# A lone "=": YAML 1.1's value key, which PyYAML refuses; text to yaml-rs. (Found by
# what follows it, then what precedes is checked: a look-behind first is far slower.)
_EQUALS_END = re.compile(r"=[ \t]*(?:$|#|[,\]\}])", re.MULTILINE)
_FLOW_OPEN = {"[": re.compile(r"\[[^\]]"), "{": re.compile(r"\{[^\}]")}  # [] {} are empty
_RISKY_KEY = re.compile(_RISKY, re.VERBOSE)
_FLOW_VALUE = re.compile(rf"[\[\{{,:]\s*{_RISKY}\s*[,\]\}}]", re.VERBOSE)
# In flow context, a scalar starting with ":", "?", "|" or ">" (YAML 1.2 reads text, 1.1
# an indicator or an error: [>a], {"a":?b}), and a ":" right before a flow indicator
# ({a:,b} is {a: null, b: null} to YAML 1.2, an error to 1.1)
_FLOW_ODD = re.compile(r"[\[\{,:\n][ \t]*[:?|>]|:[,\[\]\{\}]")
# Line breaks to YAML 1.1 only (NEL, LS, PS) and a byte order mark within (tabs too:
# YAML 1.1 takes them as separation in fewer places, "- <tab>x")
_YAML11_SPACE = ("\x85", "\u2028", "\u2029", "\ufeff")


def _needs_reference(front: str) -> bool:
    # (a one-character "in" is a memchr, far cheaper than a longer substring or a regex)
    if ("!" in front or "&" in front or "*" in front) and _NODE_MARK.search(front):
        return True
    if ("<" in front and "<<" in front) or any(p.search(front) for p in _BLOCK_VALUES):
        return True
    if "#" in front and any(p.search(front) for p in _COMMENTED_BLOCK_VALUES):
        return True
    if ("|" in front or ">" in front) and (
        _EMPTY_BLOCK.search(front) or _LONE_BLOCK.search(front) or _STRIPPED_BLOCK.search(front)
    ):
        return True
    if "\\" in front or _QUOTED_DATE.search(front):
        return True
    if "'" in front and _SINGLE_QUOTED_DATE.search(front):
        return True
    if any(front[m.start() - 1] in " \t[,{" for m in _EQUALS_END.finditer(front)):
        return True
    # (isascii() reads a flag: most documents need no search for the others)
    if "\t" in front or (not front.isascii() and any(c in front for c in _YAML11_SPACE)):
        return True
    flow = any(c in front and p.search(front) for c, p in _FLOW_OPEN.items())
    return flow and bool(_FLOW_VALUE.search(front) or _FLOW_ODD.search(front))


class _Reread(Exception):
    """yaml-rs's reading may differ from PyYAML's: the reference parser must decide."""


_YAML11_WORDS = frozenset({"y", "n", "yes", "no", "on", "off"})
_NUMBER_START = frozenset("+-._0123456789")
_HUGE = 10**4000  # PyYAML refuses integers this long (Python's int-from-text limit)


def _read_otherwise(key: str) -> bool:
    """Whether YAML 1.1 (PyYAML) reads this mapping key, as yaml-rs gave it, otherwise.

    ``yes: 1`` has the key True there; ``1e3`` stays text there.
    """
    if key[:1] in _NUMBER_START:
        return bool(_RISKY_KEY.fullmatch(key))
    return len(key) <= 3 and key.lower() in _YAML11_WORDS


KNOWN_KEYS = frozenset(
    {
        "title",
        "excerpt",
        "webUrl",
        "ampWebUrl",
        "publishedDateTime",
        "type",
        "category",
        "quality",
        "heat",
        "published",
        "provider",
        "topics",
        "images",
        "related",
        "secured",
    }
)
# The keys of an article file's mappings, which both YAML versions read as the same text
_PLAIN_KEYS = KNOWN_KEYS | {"url", "name", "domain", "width", "height", "cdnAmpWebUrl"}


class ArticleError(ValueError):
    """A file that cannot become an article; the message is the reason, for people."""


# --------------------------------------------------------------------------- front matter


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"not UTF-8 text (byte {exc.start})") from None


def split_front_matter(text: str) -> tuple[str, str]:
    """Split ``---`` front matter from the body. Accepts a BOM and CRLF line ends."""
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    first, _, rest = text.partition("\n")
    if first.rstrip() != "---":
        raise ArticleError("no front matter: the first line must be ---")
    close = _CLOSING_LINE.search("\n" + rest)
    if close is None:
        raise ArticleError("front matter is not closed: no second --- line")
    # positions in "\n" + rest: the closing line starts at rest[close.start()]
    return rest[: max(close.start() - 1, 0)], rest[close.end() - 1 :].strip()


def _check_shape(front: str) -> None:
    """Reject text whose nesting would make the YAML parser recurse without bound."""
    if front.count("[") + front.count("{") > MAX_FLOW_DEPTH:  # else it cannot be too deep
        depth = deepest = 0
        for ch in front:
            if ch in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif ch in "]}":
                depth = max(0, depth - 1)
        if deepest > MAX_FLOW_DEPTH:
            raise ArticleError(f"nesting deeper than {MAX_FLOW_DEPTH} levels")
    if _DEEP_LINE.search("\n" + front):
        raise ArticleError(f"indentation or block nesting deeper than {MAX_INDENT}")


def _fast_load(front: str) -> Any:
    """yaml-rs's reading of ``front``, bounded, or _UNSURE where PyYAML must decide.

    yaml-rs follows YAML 1.2 and PyYAML 1.1; they read plain documents alike, and the
    constructs where they differ (tags, anchors, merge keys, yes/no/on/off, sexagesimal,
    octal and exponent forms) send the document to PyYAML, the reference. So does any
    error, so that PyYAML's message is the one reported. tests/ingest/test_yaml_parity.py holds
    the two to identical articles.

    No alias or merge key reaches yaml-rs, so what it reads holds no more text than the
    front matter, at most MAX_FILE_BYTES: within MAX_VALUE_CHARS without a count here.
    """
    if yaml_rs is None or _needs_reference(front):
        return _UNSURE
    try:
        data = yaml_rs.loads(front)
    except Exception:
        return _UNSURE
    if data.__class__ is not dict:
        return _UNSURE  # empty, or not a mapping: PyYAML words the rejection
    try:
        return _as_read(data)
    except _Reread:
        return _UNSURE


def load_front_matter(front: str, *, fast: bool = True) -> dict[str, Any]:
    """Safe-load the YAML front matter into plain, bounded, JSON-compatible values.

    ``fast=False`` uses only PyYAML, the reference parser.
    """
    _check_shape(front)
    front += "\n"  # both parsers then read a final block scalar alike
    data = _fast_load(front) if fast else _UNSURE
    if data is not _UNSURE:
        return cast(dict[str, Any], data)
    try:
        data = _reference_load(front)
    except ArticleError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise ArticleError(f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ArticleError("YAML nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # a value no constructor can build: !!int x
        raise ArticleError(f"invalid YAML: {str(exc)[:100]}") from None
    return _checked(data)


def _reference_load(front: str) -> Any:
    """PyYAML's reading of ``front`` (what ``yaml.load`` does), once its nodes are
    counted, aliases and merge keys expanded: a merge key over a large mapping, repeated
    through aliases, costs PyYAML's constructor seconds however few values it makes."""
    loader = _Loader(front)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_nodes(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _count_nodes(root: yaml.Node) -> None:
    """Reject a node graph over 2 * MAX_NODES nodes (a mapping's keys are nodes too) or
    MAX_DEPTH levels, aliases expanded; stops as soon as either is passed."""
    budget = 2 * MAX_NODES
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise ArticleError(f"too many values (over {MAX_NODES}, aliases expanded)")
        if node.__class__ is yaml.ScalarNode:
            continue
        if depth > MAX_DEPTH:
            raise ArticleError(f"nested deeper than {MAX_DEPTH} levels")
        if node.__class__ is yaml.MappingNode:
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in node.value)


def _checked(data: Any) -> dict[str, Any]:
    if data is None:
        raise ArticleError("front matter is empty")
    if not isinstance(data, dict):
        raise ArticleError(f"front matter must be a mapping, not {type(data).__name__}")
    return _bounded(data)


_PLAIN = frozenset({str, int, bool, type(None), datetime, date})


def _bounded(data: dict[str, Any]) -> dict[str, Any]:
    """Copy into plain values, counting every value reached and its text (aliases
    expanded); the walk stops as soon as either bound is passed.

    PyYAML shares one object among an anchor's aliases: the text is counted at each
    reach, as the stored article would hold it. Scalars other than text, integers and
    bytes are short, and bounded by the count of values.
    """
    budget = [MAX_NODES, MAX_VALUE_CHARS]

    def text(size: int) -> None:
        budget[1] -= size
        if budget[1] < 0:
            raise ArticleError(TOO_MUCH_TEXT)

    def key(k: Any) -> str:
        name = str(k)
        text(len(name))
        return name

    def copy(value: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ArticleError(f"too many values (over {MAX_NODES}, aliases expanded)")
        kind = value.__class__
        if kind is str:
            text(len(value))
            return value
        if kind is int:
            text(value.bit_length() // 3 + 1)  # at least its decimal digits
            return value
        if kind in _PLAIN:  # nothing to copy
            return value
        if depth > MAX_DEPTH:
            raise ArticleError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            return {key(k): copy(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [copy(v, depth + 1) for v in value]
        if isinstance(value, bytes):
            text(2 * len(value))
            return value.hex()
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return value

    return copy(data, 0)  # type: ignore[no-any-return]


def _as_read(data: dict[str, Any]) -> dict[str, Any]:
    """yaml-rs's values as they are, when they are what :func:`_bounded` would copy.

    Walks once without copying. Anything else raises _Reread: a key PyYAML reads
    otherwise, a value to convert, too many values or too deep; the reference path then
    decides, with its own messages.
    """
    budget = MAX_NODES - 1  # the mapping itself is a value

    def walk(container: dict[str, Any] | list[Any], depth: int) -> None:
        nonlocal budget
        budget -= len(container)
        if budget < 0 or depth > MAX_DEPTH:
            raise _Reread
        if container.__class__ is dict:
            if not _PLAIN_KEYS.issuperset(container):  # else every key is a known name
                for key in container:
                    if key.__class__ is not str or _read_otherwise(key):
                        raise _Reread
            values: Any = container.values()
        else:
            values = container
        for value in values:
            kind = value.__class__
            if kind is str or kind is bool or value is None or kind is datetime:
                continue
            if kind is dict or kind is list:
                walk(value, depth + 1)
            elif kind is int:
                if not -_HUGE < value < _HUGE:
                    raise _Reread  # PyYAML refuses it
            elif kind is float:
                if not math.isfinite(value):
                    raise _Reread  # stored as text
            elif kind is not date:
                raise _Reread

    walk(data, 0)
    return data
