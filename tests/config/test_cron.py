"""Cron expressions mean what crontab(5) says, not APScheduler's Monday-first numbering."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config.cron import _days, cron_trigger

SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def fire_days(expression: str, count: int = 6) -> list[str]:
    trigger = cron_trigger(expression, timezone="UTC")
    moment, days = SATURDAY, []
    for _ in range(count):
        moment = trigger.get_next_fire_time(None, moment)
        days.append(moment.strftime("%a %d %H:%M"))
        moment = moment.replace(minute=moment.minute + 1)
    return days


def test_weekdays_are_monday_to_friday() -> None:
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
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("1,sat", "mon,sat"),
        ("SAT,1", "mon,sat"),
        ("sun-sat", "sun,mon,tue,wed,thu,fri,sat"),
        ("mon-5/2", "mon,wed,fri"),
        ("fri-sun", "sun,fri,sat"),
        ("*", "*"),
        ("?", "*"),
    ],
)
def test_day_field(field: str, names: str) -> None:
    assert _days(field) == names


@pytest.mark.parametrize("expression", ["0 9 * *", "0 9 * * 8", "0 9 * * 5-2", "61 * * * *"])
def test_invalid_expressions_raise_value_error(expression: str) -> None:
    with pytest.raises(ValueError):
        cron_trigger(expression)


def fire_times(expression: str, start: datetime, count: int) -> list[str]:
    """As the scheduler asks: the next time after the previous one, from a UTC clock."""
    berlin = ZoneInfo("Europe/Berlin")
    trigger = cron_trigger(expression, timezone=berlin)
    previous, now, times = None, start, []
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, now)
        times.append(previous.astimezone(UTC).astimezone(berlin).isoformat())
        now = previous.astimezone(UTC) + timedelta(seconds=1)
    return times


def test_a_fixed_hour_runs_once_on_the_day_clocks_go_back() -> None:
    start = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    assert fire_times("30 2 * * *", start, 3) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    assert fire_times("15,45 1-2 * * *", datetime(2026, 10, 24, 23, 0, tzinfo=UTC), 5) == [
        "2026-10-25T01:15:00+02:00",
        "2026-10-25T01:45:00+02:00",
        "2026-10-25T02:15:00+02:00",
        "2026-10-25T02:45:00+02:00",
        "2026-10-26T01:15:00+01:00",
    ]


def test_every_hour_runs_in_both_copies_of_the_repeated_hour() -> None:
    start = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)  # 01:30 in Berlin
    assert fire_times("0 * * * *", start, 3) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


def test_a_time_the_clocks_skip_runs_at_the_next_real_time() -> None:
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert fire_times("30 2 * * *", start, 2) == [
        "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


@pytest.mark.parametrize(
    ("expression", "after", "fires"),
    [
        # both day fields restricted: either matches, as in crontab(5)
        ("0 9 1 * 1", datetime(2026, 12, 1, 10, tzinfo=UTC), [(12, 7), (12, 14), (12, 21)]),
        ("0 9 1 * 1", datetime(2026, 12, 28, 10, tzinfo=UTC), [(1, 1), (1, 4), (1, 11)]),
        ("0 9 13 * 5", datetime(2026, 2, 10, tzinfo=UTC), [(2, 13), (2, 20), (2, 27)]),
        # one of them "*": both must match (the other is every day)
        ("0 9 * * 1", datetime(2026, 12, 1, 10, tzinfo=UTC), [(12, 7), (12, 14), (12, 21)]),
        ("0 9 1 * *", datetime(2026, 12, 1, 10, tzinfo=UTC), [(1, 1), (2, 1), (3, 1)]),
    ],
)
def test_day_of_month_and_day_of_week_match_as_in_crontab(
    expression: str, after: datetime, fires: list[tuple[int, int]]
) -> None:
    trigger = cron_trigger(expression)
    found, moment = [], after
    for _ in fires:
        fire = trigger.get_next_fire_time(None, moment)
        found.append((fire.month, fire.day, fire.hour))
        moment = fire + timedelta(seconds=1)
    assert found == [(m, d, 9) for m, d in fires]
