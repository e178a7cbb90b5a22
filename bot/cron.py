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


def _days(field: str) -> str:
    """A numeric day-of-week field → APScheduler day names (names pass through)."""
    if any(ch.isalpha() for ch in field) or field in ("*", "?"):
        return "*" if field == "?" else field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            low_text, high_text = span.split("-", 1)
            low, high = int(low_text), int(high_text)
        else:
            low = high = int(span)
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
    """Build a trigger from ``minute hour day month day-of-week``. Raises ValueError.

    The zone is the route's (UTC by default), never the machine's: a POSIX TZ such as
    "CET-1CEST,M3.5.0,M10.5.0/3" is one APScheduler's tzlocal cannot name. As in
    crontab(5), when both day fields are restricted (neither starts with ``*``) a day
    matching either one runs: ``0 9 1 * 1`` is the 1st of each month and every Monday.
    """
    fields = expression.split()
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
