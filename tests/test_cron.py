"""Cron expressions mean what crontab(5) says, not APScheduler's Monday-first numbering."""

from datetime import UTC, datetime

import pytest

from bot.cron import _days, cron_trigger

SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def fire_days(expression: str, count: int = 6) -> list[str]:
    trigger = cron_trigger(expression, timezone="UTC")
    moment, days = SATURDAY, []
    for _ in range(count):
        moment = trigger.get_next_fire_time(None, moment)
        days.append(moment.strftime("%a %d %H:%M"))
        moment = moment.replace(minute=moment.minute + 1)
    return days


def test_weekdays_are_monday_to_friday():
    assert fire_days("0 9 * * 1-5") == [
        "Mon 30 09:00",
        "Tue 01 09:00",
        "Wed 02 09:00",
        "Thu 03 09:00",
        "Fri 04 09:00",
        "Mon 07 09:00",
    ]


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("5-7", "sun,fri,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("1,3", "mon,wed"),
        ("1/3", "mon,thu"),
        ("mon-fri", "mon-fri"),
        ("*", "*"),
    ],
)
def test_day_field(field, names):
    assert _days(field) == names


@pytest.mark.parametrize("expression", ["0 9 * *", "0 9 * * 8", "0 9 * * 5-2", "61 * * * *"])
def test_invalid_expressions_raise_value_error(expression):
    with pytest.raises(ValueError):
        cron_trigger(expression)
