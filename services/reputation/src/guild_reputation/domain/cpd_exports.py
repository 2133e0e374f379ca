"""A learner's CPD log for one CPD year as CSV (one row per credit) and as a printable HTML statement.

Pure functions of the credits. Dates are on the wall clock of each credit's community (its rules' time zone,
UTC without one), and the zone is stated. Every text a person wrote (descriptions carry post titles,
reflections) is escaped in HTML; in CSV a cell a spreadsheet would read as a formula is prefixed with an
apostrophe.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping, Sequence
from datetime import datetime

from guild_reputation.domain.cpd import CpdCredit, CreditState, Totals, zone_of

CSV_HEADER = [
    "date",
    "activity",
    "description",
    "minutes",
    "evidence",
    "reflection",
    "status",
    "community",
    "time_zone",
]
UTC_NAME = "UTC"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STATUS = {
    CreditState.COUNTED: "counted",
    CreditState.PENDING: "pending reflection",
    CreditState.RESERVING: "pending",
    CreditState.OVER_CAP: "over the cap",
}


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def reflection_text(credit: CpdCredit) -> str:
    r = credit.reflection
    if r is None:
        return ""
    return f"Learned: {r.learned}\nChange to practice: {r.practice_change}"


def _minutes(credit: CpdCredit) -> int:
    return credit.minutes if credit.state is CreditState.COUNTED else 0


def _zone_name(zones: Mapping[str, str], community_id: str) -> str:
    return zones.get(community_id) or UTC_NAME


def _local_date(credit: CpdCredit, zones: Mapping[str, str]) -> str:
    return credit.time.astimezone(zone_of(zones.get(credit.community_id, ""))).date().isoformat()


def to_csv(credits: Sequence[CpdCredit], zones: Mapping[str, str] | None = None) -> bytes:
    """RFC 4180 CSV with a header row; minutes are those counted (0 while pending or over the cap); dates
    in the time zone of the credit's community (``zones``: community id to IANA name, UTC when absent)."""
    zones = zones or {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for c in credits:
        writer.writerow(
            [
                _local_date(c, zones),
                c.activity.label,
                _cell(c.description),
                _minutes(c),
                _cell(c.evidence_url),
                _cell(reflection_text(c)),
                _STATUS[c.state],
                _cell(c.community_id),
                _zone_name(zones, c.community_id),
            ]
        )
    return out.getvalue().encode("utf-8")


def _hours(minutes: int) -> str:
    return f"{minutes // 60} h {minutes % 60:02d} min"


_STYLE = """
body { font-family: Georgia, 'Times New Roman', serif; margin: 2em; color: #111; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; font-size: 0.9em; }
th, td { border: 1px solid #999; padding: 0.35em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.n { text-align: right; white-space: nowrap; }
.reflection { white-space: pre-wrap; }
dl.totals dt { font-weight: bold; float: left; clear: left; width: 14em; }
dl.totals dd { margin-left: 14em; }
@media print { body { margin: 0; } a { color: #111; } }
"""


def _zones_stated(credits: Sequence[CpdCredit], zones: Mapping[str, str]) -> str:
    shown = {_zone_name(zones, c.community_id) for c in credits}
    names = sorted(shown or {v or UTC_NAME for v in zones.values()} or {UTC_NAME})
    if len(names) == 1:
        return f"Dates are in the {names[0]} time zone."
    return f"Dates are in each community's time zone ({', '.join(names)})."


def to_html(
    credits: Sequence[CpdCredit],
    zones: Mapping[str, str] | None = None,
    *,
    learner: str,
    period_start: datetime,
    period_end: datetime,
    totals: Totals,
    issued: datetime,
    issuer: str,
) -> bytes:
    """A self-contained page (inline style, no scripts, no external resources). The period and the issue
    date are shown on the wall clock of ``period_start``; each credit's date in its community's zone."""
    zones = zones or {}
    e = html.escape
    last_day = period_end.date().fromordinal(period_end.date().toordinal() - 1)
    issued = issued.astimezone(period_start.tzinfo)
    rows = []
    for c in credits:
        link = f'<a href="{e(c.evidence_url)}">{e(c.evidence_url)}</a>' if c.evidence_url else ""
        rows.append(
            "<tr>"
            f"<td>{e(_local_date(c, zones))}</td>"
            f"<td>{e(c.activity.label)}</td>"
            f"<td>{e(c.description)}</td>"
            f'<td class="n">{_minutes(c)}</td>'
            f"<td>{link}</td>"
            f'<td class="reflection">{e(reflection_text(c))}</td>'
            f"<td>{e(_STATUS[c.state])}</td>"
            "</tr>"
        )
    by_activity = "".join(
        f"<dt>{e(activity.label)}</dt><dd>{_hours(minutes)}</dd>" for activity, minutes in totals.by_activity
    )
    body = "\n".join(rows) or '<tr><td colspan="7">No CPD activity recorded in this period.</td></tr>'
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>CPD statement: {e(learner)}, {e(period_start.date().isoformat())} to {e(last_day.isoformat())}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Continuing professional development statement</h1>
<p>Learner: <strong>{e(learner)}</strong><br>
Period: {e(period_start.date().isoformat())} to {e(last_day.isoformat())}<br>
Issued by {e(issuer)} on {e(issued.date().isoformat())}<br>
{e(_zones_stated(credits, zones))}</p>
<h2>Totals</h2>
<dl class="totals">
<dt>Counted</dt><dd>{_hours(totals.counted_minutes)} ({totals.counted_credits} activities)</dd>
<dt>Waiting for a reflection</dt>
<dd>{_hours(totals.pending_minutes)} ({totals.pending_credits} activities)</dd>
<dt>Over the cap</dt><dd>{totals.over_cap_credits} activities</dd>
{by_activity}
</dl>
<h2>Activities</h2>
<table>
<thead><tr><th>Date</th><th>Activity</th><th>Description</th><th>Minutes</th><th>Evidence</th>
<th>Reflection</th><th>Status</th></tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""
    return page.encode("utf-8")
