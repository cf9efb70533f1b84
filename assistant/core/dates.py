"""Feed dates: 'Mar 13', 'March 13, 2024' and '2024-03-13' as sortable YYYYMMDD days (year 0 when unknown)."""

from __future__ import annotations

import calendar
import re

__all__ = ["label_order", "parse_feed_date"]

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_MONTHS |= {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS["sept"] = 9
_MONTH_FIRST_RE = re.compile(r"(?P<month>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{4}))?")
_DAY_FIRST_RE = re.compile(
    r"(?:[A-Za-z]{3},?\s+)?(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]{3,9})\.?(?:,?\s+(?P<year>\d{4}))?"
    r"(?:\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:GMT|UTC|[+-]\d{4}))?)?"
)
_ISO_RE = re.compile(r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")


def parse_feed_date(text: str, year: int | None = None) -> tuple[str, int] | None:
    """Parse 'Mar 13', 'March 13, 2024' or '2024-03-13' into (label as given, YYYYMMDD); None if not a date.

    The year is 0 when neither the text nor ``year`` gives one, so 'Mar 13' sorts as 313.
    """
    label = (text or "").strip()
    for pattern in (_ISO_RE, _MONTH_FIRST_RE, _DAY_FIRST_RE):
        match = pattern.fullmatch(label)
        if match:
            day = _sortable_day(match, year)
            return (label, day) if day is not None else None
    return None


def _sortable_day(match: re.Match[str], default_year: int | None) -> int | None:
    month_text = match.group("month")
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.lower())
    year = int(match.group("year")) if match.group("year") else (default_year or 0)
    day = int(match.group("day"))
    if not month or not 1 <= month <= 12:
        return None
    # Year 0 is "unknown": allow Feb 29 then, since some year has it.
    days_in_month = calendar.monthrange(year or 2000, month)[1]
    if not 1 <= day <= days_in_month:
        return None
    return year * 10000 + month * 100 + day


def label_order(label: str) -> tuple[int, str]:
    """Sort key for feed labels: dates in date order ('Mar 13' < 'Apr 2'), other names after them."""
    parsed = parse_feed_date(label)
    return (parsed[1], label) if parsed else (10**9, label)
