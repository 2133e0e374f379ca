"""Pure rules: caps, overrides, votes, calendar periods, neighbours and percentiles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guild_common.errors import InvalidArgument
from guild_reputation.domain.leaderboard import Leaderboard, Leaderboards, Standing
from guild_reputation.domain.periods import Calendar, PeriodKind
from guild_reputation.domain.rules import (
    PointsTable,
    Rule,
    RuleSetting,
    capped_amount,
    upvote_delta,
    validate_overrides,
)


def test_the_daily_cap_cuts_the_crossing_gain_and_zeroes_the_rest() -> None:
    assert capped_amount(RuleSetting(10, 0), 10_000) == (10, False)
    assert capped_amount(RuleSetting(10, 25), 10) == (10, False)
    assert capped_amount(RuleSetting(10, 25), 20) == (5, True)
    assert capped_amount(RuleSetting(10, 25), 25) == (0, True)
    assert capped_amount(RuleSetting(10, 25), 40) == (0, True)


def test_upvote_deltas_follow_the_change_of_value() -> None:
    assert [upvote_delta(p, v) for p, v in [(0, 1), (-1, 1), (1, 0), (1, -1), (0, -1), (1, 1)]] == [
        1,
        1,
        -1,
        -1,
        0,
        0,
    ]


def test_overrides_are_validated_field_by_field() -> None:
    assert validate_overrides([("question_asked", 7, 0)]) == {"question_asked": RuleSetting(7, 0)}
    with pytest.raises(InvalidArgument) as caught:
        validate_overrides(
            [
                ("question_asked", 1001, 0),
                ("nonsense", 1, 1),
                ("upvote_received", 5, -1),
                ("question_asked", 1, 1),
            ]
        )
    fields = [v.field for v in caught.value.violations]
    assert fields == ["rules[0].points", "rules[1].rule", "rules[2].daily_cap", "rules[3].rule"]
    with pytest.raises(InvalidArgument):
        validate_overrides([])


def test_overrides_replace_defaults_rule_by_rule() -> None:
    table = PointsTable(daily_caps={"upvote_received": 200})
    effective = table.effective({"question_asked": RuleSetting(7, 3)})
    assert effective[Rule.QUESTION_ASKED] == RuleSetting(7, 3)
    assert effective[Rule.UPVOTE_RECEIVED] == RuleSetting(10, 200)
    assert effective[Rule.ANSWER_ACCEPTED] == RuleSetting(15, 0)


def test_weeks_and_months_are_calendar_periods_in_the_configured_zone() -> None:
    late_sunday_utc = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert Calendar("UTC").periods(late_sunday_utc).names() == ("all", "w2026-W48", "m2026-11")
    # Already Monday 30 November in Auckland: the next week.
    assert Calendar("Pacific/Auckland").periods(late_sunday_utc).week == "w2026-W49"
    end_of_month = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert Calendar("Europe/Berlin").periods(end_of_month).month == "m2026-12"
    assert Calendar("Europe/Berlin").day(end_of_month) == "2026-12-01"
    assert Calendar("UTC").periods(end_of_month).key(PeriodKind.MONTH) == "m2026-11"


def test_neighbours_and_percentile() -> None:
    board = Leaderboard()
    for member, points in [("ann", 30), ("bob", 20), ("cat", 20), ("dan", 10)]:
        board.set(member, points)
    bob = board.standing("bob")
    assert bob == Standing("bob", 20, 2)
    assert board.neighbours(bob) == (Standing("ann", 30, 1), Standing("cat", 20, 3))
    assert board.neighbours(Standing("ann", 30, 1)) == (None, Standing("bob", 20, 2))
    assert board.neighbours(Standing("dan", 10, 4)) == (Standing("cat", 20, 3), None)
    assert board.percentile(Standing("ann", 30, 1)) == 100.0
    assert board.percentile(Standing("dan", 10, 4)) == 25.0


def test_boards_of_past_periods_are_dropped() -> None:
    boards = Leaderboards()
    boards.board("c", "w2026-W47").set("ann", 1)
    boards.board("c", "all").set("ann", 1)
    boards.retain({"all", "w2026-W48"})
    assert boards.find("c", "w2026-W47") is None
    assert boards.find("c", "all") is not None
