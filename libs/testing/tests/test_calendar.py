from datetime import UTC, datetime, timedelta, timezone

from guild_testing.calendar import wait_before_scenario

MARGIN = timedelta(minutes=5)


def test_no_wait_when_midnight_is_beyond_the_margin() -> None:
    assert wait_before_scenario(datetime(2026, 12, 6, 23, 54, 59, tzinfo=UTC), MARGIN) == timedelta(0)
    assert wait_before_scenario(datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC), MARGIN) == timedelta(0)


def test_waits_just_past_a_midnight_within_the_margin() -> None:
    # Sunday 23:58 UTC: the ISO week, the day and (here) nothing else turn in two minutes.
    sunday = datetime(2026, 12, 6, 23, 58, tzinfo=UTC)
    assert wait_before_scenario(sunday, MARGIN) == timedelta(minutes=2, seconds=1)
    # The last second of a year turns the day, week, month and year.
    new_year_eve = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert wait_before_scenario(new_year_eve, MARGIN) == timedelta(seconds=2)


def test_midnight_is_utc_midnight_whatever_the_zone_of_now() -> None:
    # 00:58 in UTC+1 is 23:58 UTC.
    plus_one = timezone(timedelta(hours=1))
    assert wait_before_scenario(datetime(2026, 12, 7, 0, 58, tzinfo=plus_one), MARGIN) == timedelta(
        minutes=2, seconds=1
    )
