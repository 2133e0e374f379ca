"""CPD rules validation, CPD years and the exports, without I/O."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from guild_common.errors import InvalidArgument
from guild_reputation.domain.cpd import (
    CpdActivity,
    CpdCredit,
    CpdRules,
    CreditState,
    Evidence,
    Reflection,
    Totals,
    cpd_year,
    month_of,
    validate_reflection,
    validate_rules,
    year_bounds,
)
from guild_reputation.domain.cpd_exports import CSV_HEADER, to_csv, to_html

AT = datetime(2026, 12, 6, 9, tzinfo=UTC)
ANSWERS = [(CpdActivity.ANSWER_ACCEPTED, 30)]
LONDON = ZoneInfo("Europe/London")


def _fields(error: InvalidArgument) -> set[str]:
    return {v.field for v in error.violations}


def test_rules_name_every_bad_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_rules(
            "",
            [(CpdActivity.ANSWER_ACCEPTED, 0), (None, 30), (CpdActivity.ANSWER_ACCEPTED, 601)],
            0,
            -1,
            False,
            13,
            updated_by="o",
            at=AT,
        )
    assert _fields(caught.value) == {
        "community_id",
        "rules.activities[0].minutes",
        "rules.activities[1].activity",
        "rules.activities[2].activity",
        "rules.activities[2].minutes",
        "rules.year_cap_minutes",
        "rules.month_cap_minutes",
        "rules.year_start_month",
    }
    with pytest.raises(InvalidArgument) as caught:
        validate_rules("c", [], 100, 200, True, 4, updated_by="o", at=AT)
    assert _fields(caught.value) == {"rules.activities", "rules.month_cap_minutes"}
    rules = validate_rules(
        "c", [(CpdActivity.REFLECTION_SURVEY, 600)], 60_000, 0, True, 4, updated_by="o", at=AT
    )
    assert rules.minutes == {CpdActivity.REFLECTION_SURVEY: 600}


def test_cpd_years_start_in_the_communitys_month() -> None:
    assert cpd_year(datetime(2027, 3, 31, 23, tzinfo=UTC), 4) == 2026
    assert cpd_year(datetime(2027, 4, 1, tzinfo=UTC), 4) == 2027
    assert cpd_year(datetime(2027, 1, 1, tzinfo=UTC), 1) == 2027
    assert year_bounds(2026, 4) == (datetime(2026, 4, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC))


def _rules_in(time_zone: str) -> CpdRules:
    return validate_rules("c", ANSWERS, 600, 60, False, 4, updated_by="o", at=AT, time_zone=time_zone)


def test_cpd_years_and_months_follow_the_communitys_time_zone() -> None:
    # 23:30 UTC on 31 March 2027 is 00:30 on 1 April in London (BST): a new NHS-style CPD year.
    late = datetime(2027, 3, 31, 23, 30, tzinfo=UTC)
    london, utc = _rules_in("Europe/London"), _rules_in("")
    assert (london.year_of(late), utc.year_of(late)) == (2027, 2026)
    assert (london.month_of(late), utc.month_of(late)) == ("2027-04", "2027-03")
    assert (london.time_zone, utc.time_zone, utc.zone) == ("Europe/London", "", UTC)
    assert london.year_of(datetime(2027, 3, 31, 22, 59, tzinfo=UTC)) == 2026
    # In winter London is on UTC; Sydney is ahead of it.
    assert month_of(datetime(2026, 11, 30, 14, tzinfo=UTC), ZoneInfo("Australia/Sydney")) == "2026-12"
    assert month_of(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), LONDON) == "2026-11"
    start, end = year_bounds(2027, 4, LONDON)
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (
        datetime(2027, 3, 31, 23, tzinfo=UTC),
        datetime(2028, 3, 31, 23, tzinfo=UTC),
    )
    assert cpd_year(start, 4, LONDON) == 2027
    assert cpd_year(end, 4, LONDON) == 2028


def test_rules_take_only_known_time_zones_and_never_echo_them() -> None:
    long = "Europe/" + "x" * 500
    for bad in ("Mars/Olympus_Mons", "europe/london", "../../etc/passwd", "localtime", long, "UTC\n"):
        with pytest.raises(InvalidArgument) as caught:
            _rules_in(bad)
        assert _fields(caught.value) == {"rules.time_zone"}
        assert "x" * 20 not in str(caught.value) + "".join(v.description for v in caught.value.violations)
    for good in ("", "UTC", "Europe/London", "America/Argentina/Buenos_Aires", "Etc/GMT+5"):
        rules = _rules_in(good)
        assert rules.time_zone == good


def test_rules_apply_from_when_the_community_first_had_them() -> None:
    rules = _rules_in("")
    assert rules.applies_to(datetime(2000, 1, 1, tzinfo=UTC))  # stored before "since" existed: no bound
    since = replace(rules, since=AT)
    assert since.applies_to(AT)
    assert not since.applies_to(datetime(2026, 12, 6, 8, 59, tzinfo=UTC))


def test_reflections_are_bounded_and_keep_line_breaks() -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_reflection(" ", "x" * 2001, AT)
    assert _fields(caught.value) == {"reflection.learned", "reflection.practice_change"}
    with pytest.raises(InvalidArgument):
        validate_reflection("a\u202eb", "ok", AT)
    assert validate_reflection(" line one\nline two ", "ok", AT).learned == "line one\nline two"


def _credit(i: int, reflection: Reflection | None, description: str = "Answer accepted: Why?") -> CpdCredit:
    return CpdCredit(
        id=f"e{i}:cpd_answer_accepted",
        community_id="c-1",
        member_id="ann",
        activity=CpdActivity.ANSWER_ACCEPTED,
        minutes=30,
        state=CreditState.COUNTED,
        cpd_year=2026,
        month="2026-12",
        time=AT,
        target_id=f"a{i}",
        description=description,
        evidence_url=Evidence("https://skills.example.com/").answer("c-1", "q 1", f"a{i}"),
        source_event_id=f"e{i}",
        reflection=reflection,
    )


def test_csv_parses_and_html_escapes_what_people_wrote() -> None:
    script = Reflection("<script>alert('x')</script>", 'Cite "sources", always', AT)
    credits = [_credit(1, script), _credit(2, None, '=HYPERLINK("http://evil")')]
    rows = list(csv.reader(io.StringIO(to_csv(credits).decode("utf-8"))))
    assert rows[0] == CSV_HEADER
    assert rows[1][:4] == ["2026-12-06", "Answer accepted", "Answer accepted: Why?", "30"]
    assert rows[1][4] == "https://skills.example.com/communities/c-1/questions/q%201#answer-a1"
    assert rows[1][5] == "Learned: <script>alert('x')</script>\nChange to practice: Cite \"sources\", always"
    assert rows[2][2].startswith("'=")  # not a formula in a spreadsheet
    assert rows[1][-2:] == ["c-1", "UTC"]
    page = to_html(
        credits,
        learner="Ann <b>",
        period_start=datetime(2026, 4, 1, tzinfo=UTC),
        period_end=datetime(2027, 4, 1, tzinfo=UTC),
        totals=Totals(
            counted_minutes=60, counted_credits=2, by_activity=((CpdActivity.ANSWER_ACCEPTED, 60),)
        ),
        issued=AT,
        issuer="Example Corp",
    ).decode("utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Ann &lt;b&gt;" in page
    assert "2026-04-01 to 2027-03-31" in page
    assert "1 h 00 min" in page
    assert "Dates are in the UTC time zone." in page


def test_exports_show_dates_in_the_communitys_time_zone() -> None:
    late = replace(_credit(1, None), time=datetime(2027, 3, 31, 23, 30, tzinfo=UTC))
    zones = {"c-1": "Europe/London"}
    rows = list(csv.DictReader(io.StringIO(to_csv([late], zones).decode("utf-8"))))
    assert (rows[0]["date"], rows[0]["time_zone"]) == ("2027-04-01", "Europe/London")
    (in_utc,) = csv.DictReader(io.StringIO(to_csv([late]).decode("utf-8")))
    assert in_utc["date"] == "2027-03-31"
    start, end = year_bounds(2027, 4, LONDON)
    page = to_html(
        [late],
        zones,
        learner="Ann",
        period_start=start,
        period_end=end,
        totals=Totals(),
        issued=datetime(2027, 3, 31, 23, 30, tzinfo=UTC),
        issuer="Example NHS Trust",
    ).decode("utf-8")
    assert "<td>2027-04-01</td>" in page
    assert "Period: 2027-04-01 to 2028-03-31" in page
    assert "Issued by Example NHS Trust on 2027-04-01" in page
    assert "Dates are in the Europe/London time zone." in page
    both = [late, replace(late, id="x", community_id="c-2")]
    mixed = to_html(
        both, zones, learner="Ann", period_start=start, period_end=end, totals=Totals(), issued=AT, issuer="G"
    ).decode("utf-8")
    assert "Dates are in each community&#x27;s time zone (Europe/London, UTC)." in mixed
