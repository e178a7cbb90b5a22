"""Standard five-field cron expressions as APScheduler triggers.

APScheduler 3 counts days of the week from Monday = 0, so its ``from_crontab`` reads
``1-5`` as Tuesday to Saturday. Here numbers mean what they mean in crontab(5):
0 and 7 are Sunday, 1 is Monday. And as cron does, a time at a fixed hour runs once on
the day clocks go back, not in both copies of the repeated hour.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


# crontab(5)'s nicknames; @reboot has no meaning for a schedule and is refused
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def expand(expression: str) -> str:
    """``expression`` with a crontab(5) nickname (``@daily``…) written out in five fields."""
    text = expression.strip()
    return MACROS.get(text.lower(), text)


def _day_number(text: str) -> int:
    """A day of the week as crontab(5) writes it: 0-7 (0 and 7 are Sunday) or a name."""
    name = text.strip().lower()
    if name in DAY_NAMES:
        return DAY_NAMES.index(name)
    if not name.isdigit():
        raise ValueError(f"unknown day of week {text!r}")
    return int(name)


def _days(field: str) -> str:
    """A day-of-week field in crontab(5)'s terms → APScheduler's day names.

    Numbers and names mix freely (``1,sat``, ``sun-sat``, ``mon-5/2``): each part is read
    here, so APScheduler, which counts from Monday = 0 and reads names only alone, never
    sees a number.
    """
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        if step_text and not step_text.isdigit():
            raise ValueError(f"bad step in {part!r}")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            low_text, high_text = span.split("-", 1)
            low, high = _day_number(low_text), _day_number(high_text)
            if high == 0 and low > 0:  # "fri-sun": Sunday as 7, the end of the week
                high = 7
        else:
            low = high = _day_number(span)
            if step_text:
                high = 6
        if not (0 <= low <= 7 and 0 <= high <= 7 and low <= high):
            raise ValueError(f"day of week out of range in {part!r}")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(DAY_NAMES[d] for d in sorted(days))


class WallClockCronTrigger(CronTrigger):  # type: ignore[misc]
    """A CronTrigger that skips the second copy of a wall-clock time when the clocks go
    back (02:30 twice on the last Sunday of October in Europe), if its hours are fixed.
    With ``*`` in the hour field (every hour) both copies run: an hour passes between.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        hours = str(self.fields[self.FIELD_NAMES.index("hour")])
        while fire is not None and "*" not in hours and _second_copy(fire):
            fire = super().get_next_fire_time(fire, just_after(fire))
        return fire


def just_after(moment: datetime) -> datetime:
    """A second after ``moment``, as an instant: adding to a wall-clock time in the hour
    clocks go back would land an hour earlier."""
    return moment.astimezone(UTC) + timedelta(seconds=1)


def _second_copy(moment: datetime) -> bool:
    """Whether ``moment``'s wall-clock time came once already, an offset change ago."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def cron_trigger(expression: str, timezone: tzinfo | str = UTC) -> BaseTrigger:
    """Build a trigger from ``minute hour day month day-of-week`` or a nickname such as
    ``@daily``. Raises ValueError.

    The zone is the route's (UTC by default), never the machine's: a POSIX TZ such as
    "CET-1CEST,M3.5.0,M10.5.0/3" is one APScheduler's tzlocal cannot name. As in
    crontab(5), when both day fields are restricted (neither starts with ``*``) a day
    matching either one runs: ``0 9 1 * 1`` is the 1st of each month and every Monday.
    """
    fields = expand(expression).split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    minute, hour, day, month, day_of_week = fields

    def trigger(day: str, day_of_week: str) -> CronTrigger:
        return WallClockCronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_days(day_of_week),
            timezone=timezone,
        )

    if day[:1] in ("*", "?") or day_of_week[:1] in ("*", "?"):
        return trigger(day, day_of_week)
    return OrTrigger([trigger(day, "*"), trigger("*", day_of_week)])
