"""CPD rules validation, CPD years and the exports, without I/O."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from guild_common.errors import InvalidArgument
from guild_reputation.domain.cpd import (
    CpdActivity,
    CpdCredit,
    CreditState,
    Evidence,
    Reflection,
    Totals,
    cpd_year,
    validate_reflection,
    validate_rules,
    year_bounds,
)
from guild_reputation.domain.cpd_exports import CSV_HEADER, to_csv, to_html

AT = datetime(2026, 12, 6, 9, tzinfo=UTC)


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
