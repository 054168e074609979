"""Dates of documents and dates in questions, as ISO strings ("2024-05-14", or "2024-05" for a month).

A document's date comes from its file name or path ("2024-03-12-council.txt", "2024/06/12/...")
or, failing that, from the first lines of its text ("Regular meeting, 14 May 2024"). A question's
date is any date it writes ("at the 14 May 2024 meeting", "in March 2024", "on 2024-05-14").
Months are the twelve English month names and their abbreviations; nothing else is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_FORMS = [
    re.compile(rf"(?<!\d){_YEAR}[-_/.](?P<mon>[01]\d)(?:[-_/.](?P<dd>[0-3]\d))?(?!\d)"),  # 2024-05-14, 2024_05
    re.compile(rf"(?<!\d){_YEAR}(?P<mon>[01]\d)(?P<dd>[0-3]\d)(?!\d)"),  # 20240514
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.I),  # 14 May 2024
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.I),  # May 14, 2024
    re.compile(rf"\b{_MONTH},?\s+{_YEAR}\b", re.I),  # May 2024
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\b", re.I),  # 12 March (any year)
    re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?!:)", re.I),  # March 12 (any year)
]


@dataclass(frozen=True, slots=True)
class Mentioned:
    """A date written in a text: ISO (`2024-05-14` or `2024-05`) and where it was written."""

    iso: str
    start: int
    end: int


def find_dates(text: str) -> list[Mentioned]:
    """Every date written in `text`, in order, the longest reading of each place.

    Example: find_dates("at the 14 May 2024 meeting") -> [Mentioned("2024-05-14", 7, 18)]
    """
    found: list[Mentioned] = []
    for form in _FORMS:
        for m in form.finditer(text):
            iso = _iso(m)
            if iso is not None and not any(
                f.start <= m.start() < f.end or m.start() <= f.start < m.end() for f in found
            ):
                found.append(Mentioned(iso, m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


def document_date(name: str, head: str = "") -> str | None:
    """A document's date from its name or path, else from the first lines of its text."""
    for text in (name, head[:600]):
        dates = find_dates(text)
        if dates:
            return dates[0].iso
    return None


def matches(date: str | None, wanted: str) -> bool:
    """True when a document's date falls on (or in the month of) a wanted date ("****-03-12":
    the 12th of March of any year)."""
    if date is None:
        return False
    if wanted.startswith("****"):
        return len(date) == 10 and date[4:] == wanted[4:]
    return date.startswith(wanted) or (wanted.startswith(date) and len(date) >= 7)


def in_range(date: str | None, after: str | None, before: str | None) -> bool:
    """True when `date` is on or after `after` and on or before `before` (ISO strings; None: open)."""
    if after is None and before is None:
        return True
    if date is None:
        return False
    return (after is None or date[: len(after)] >= after) and (before is None or date[: len(before)] <= before)


def check_iso(value: str, name: str) -> str:
    """`value` as an ISO date (YYYY-MM-DD or YYYY-MM), or a ValueError naming `name` and the form."""
    m = re.fullmatch(r"(?:19|20)\d\d-(\d\d)(?:-(\d\d))?", value or "")
    if not m or not 1 <= int(m.group(1)) <= 12 or (m.group(2) is not None and not 1 <= int(m.group(2)) <= 31):
        raise ValueError(f"{name} must be a date like 2024-05-14 or 2024-05, not {value!r}")
    return value


def _iso(m: re.Match[str]) -> str | None:
    groups = m.groupdict()
    year = int(groups["year"]) if groups.get("year") else None
    month = int(groups["mon"]) if groups.get("mon") else _MONTHS.get((groups.get("month") or "").lower().rstrip("."))
    day_text = groups.get("dd") or groups.get("day")
    if month is None or not 1 <= month <= 12:
        return None
    if day_text is None:
        return None if year is None else f"{year:04d}-{month:02d}"
    day = int(day_text)
    if not 1 <= day <= 31:
        return None
    return f"****-{month:02d}-{day:02d}" if year is None else f"{year:04d}-{month:02d}-{day:02d}"
