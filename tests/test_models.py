"""The stored JSON form: to_json writes what the json module writes, fast or not."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest

from bot.models import json_default, to_json, topic_key


def reference(value: Any) -> str:
    """The json module's text: the form stores written before orjson hold."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


EVERY_CHARACTER = "".join(chr(c) for c in range(0x300)) + "\u2028\u2029\ufeff\U0001f600"


@pytest.mark.parametrize(
    "value",
    [
        EVERY_CHARACTER,
        {"title": 'Quote " and \\ back\nslash\t', "n": [1, -1, 0, 2**63 - 1, -(2**63)]},
        [1.5, 0.1, -0.0, 1e16, 123456789.123, 5e-324, 1.7976931348623157e308],
        {"when": datetime(2020, 6, 9, 2, 55, 0, 123456, tzinfo=UTC), "day": date(2020, 6, 9)},
        {"naive": datetime(2020, 6, 9, 2, 55), "at": time(2, 55)},
        {"offset": datetime(2020, 6, 9, 4, 55, tzinfo=timezone(timedelta(hours=2)))},
        {"nested": {"list": [True, False, None, "", {}, []]}, "tuple": (1, "two")},
    ],
)
def test_to_json_writes_what_the_json_module_writes(value: Any) -> None:
    assert to_json(value) == reference(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"big": 2**64}, '{"big":18446744073709551616}'),  # beyond 64 bits
        ({1: "numeric key"}, '{"1":"numeric key"}'),
        ({"lone": "\ud800"}, '{"lone":"\ud800"}'),  # a surrogate: not UTF-8
    ],
)
def test_to_json_writes_what_orjson_refuses(value: Any, text: str) -> None:
    assert to_json(value) == reference(value) == text


def test_to_json_small_floats_read_back_the_same() -> None:
    # the one spelling orjson writes otherwise: 1e-7 for 1e-07, the same number
    assert to_json([1e-7]) == "[1e-7]"
    assert json.loads(to_json([1e-7])) == json.loads(reference([1e-7])) == [1e-7]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("AI", "ai"),
        ("  Computer \t Vision ", "computer vision"),
        ("M\u00e9xico", "mexico"),  # é as one character
        ("Me\u0301xico", "mexico"),  # é as e + a combining accent
        ("Z\u00fcrich", "zurich"),
        ("Stra\u00dfe", "strasse"),  # casefolded past lower()
        ("\ufb01nance", "finance"),  # the fi ligature, a compatibility form
        ("\uff21\uff29", "ai"),  # full-width letters
        ("\u0130stanbul", "istanbul"),
        ("\u041c\u043e\u0441\u043a\u0432\u0430", "\u043c\u043e\u0441\u043a\u0432\u0430"),
        ("\U0001f916 Robots", "\U0001f916 robots"),
        ("\u0301\u0302", "\u0301\u0302"),  # accents alone are kept, not an empty key
        ("", ""),
    ],
)
def test_topic_key(name: str, key: str) -> None:
    assert topic_key(name) == key
