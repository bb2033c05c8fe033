"""Date helpers: JavaScript ``toISOString`` and moment.js style ``format``."""

from __future__ import annotations

import datetime as _dt
import re

__all__ = ["iso_timestamp", "moment_format", "now_ms"]

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

_LOCALE = {
    "LTS": "h:mm:ss A",
    "LT": "h:mm A",
    "LLLL": "dddd, MMMM D, YYYY h:mm A",
    "LLL": "MMMM D, YYYY h:mm A",
    "LL": "MMMM D, YYYY",
    "L": "MM/DD/YYYY",
}

_TOKEN = re.compile(
    r"\[[^\]]*\]|LTS|LT|L{1,4}|YYYYYY|YYYY|YY|Y|Qo|Q|MMMM|MMM|MM|Mo|M|DDDD|DDDo|DDD|DD|Do|D"
    r"|dddd|ddd|dd|do|d|E|e|GGGG|GG|gggg|gg|WW|Wo|W|ww|wo|w|A|a|HH|H|hh|h|kk|k|mm|m|ss|s"
    r"|S{1,9}|X|x|ZZ|Z|zz|z|."
)


def now_ms() -> int:
    """Milliseconds since the epoch, as JavaScript's ``Date.now()``."""
    return int(_dt.datetime.now(_dt.UTC).timestamp() * 1000)


def iso_timestamp(when: _dt.datetime | None = None) -> str:
    """Return ``when`` (default now) as JavaScript ``toISOString()``: UTC, ms, ``Z``."""
    when = (when or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _offset(when: _dt.datetime, sep: str) -> str:
    delta = when.utcoffset() or _dt.timedelta(0)
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{sep}{minutes % 60:02d}"


def _locale_week(when: _dt.datetime) -> tuple[int, int]:
    """US locale weeks (moment's default 'en'): weeks start Sunday, Jan 1 in week 1."""
    year = when.year
    jan1 = _dt.date(year + 1, 1, 1)
    start_next = jan1 - _dt.timedelta(days=(jan1.weekday() + 1) % 7)
    if when.date() >= start_next:
        return year + 1, 1
    jan1 = _dt.date(year, 1, 1)
    start = jan1 - _dt.timedelta(days=(jan1.weekday() + 1) % 7)
    return year, (when.date() - start).days // 7 + 1


def _token(tok: str, when: _dt.datetime) -> str:
    hour12 = when.hour % 12 or 12
    simple: dict[str, object] = {
        "YYYYYY": f"{'+' if when.year >= 0 else '-'}{abs(when.year):06d}",
        "YYYY": f"{when.year:04d}",
        "YY": f"{when.year % 100:02d}",
        "Y": when.year,
        "Q": (when.month - 1) // 3 + 1,
        "Qo": _ordinal((when.month - 1) // 3 + 1),
        "M": when.month,
        "Mo": _ordinal(when.month),
        "MM": f"{when.month:02d}",
        "MMM": _MONTHS[when.month - 1][:3],
        "MMMM": _MONTHS[when.month - 1],
        "D": when.day,
        "Do": _ordinal(when.day),
        "DD": f"{when.day:02d}",
        "DDD": when.timetuple().tm_yday,
        "DDDo": _ordinal(when.timetuple().tm_yday),
        "DDDD": f"{when.timetuple().tm_yday:03d}",
        "d": (when.weekday() + 1) % 7,
        "do": _ordinal((when.weekday() + 1) % 7),
        "dd": _DAYS[(when.weekday() + 1) % 7][:2],
        "ddd": _DAYS[(when.weekday() + 1) % 7][:3],
        "dddd": _DAYS[(when.weekday() + 1) % 7],
        "e": (when.weekday() + 1) % 7,
        "E": when.isoweekday(),
        "W": when.isocalendar().week,
        "Wo": _ordinal(when.isocalendar().week),
        "WW": f"{when.isocalendar().week:02d}",
        "GGGG": f"{when.isocalendar().year:04d}",
        "GG": f"{when.isocalendar().year % 100:02d}",
        "A": "AM" if when.hour < 12 else "PM",
        "a": "am" if when.hour < 12 else "pm",
        "H": when.hour,
        "HH": f"{when.hour:02d}",
        "h": hour12,
        "hh": f"{hour12:02d}",
        "k": when.hour or 24,
        "kk": f"{when.hour or 24:02d}",
        "m": when.minute,
        "mm": f"{when.minute:02d}",
        "s": when.second,
        "ss": f"{when.second:02d}",
        "X": int(when.timestamp()),
        "x": int(when.timestamp() * 1000),
        "Z": _offset(when, ":"),
        "ZZ": _offset(when, ""),
        "z": when.tzname() or "",
        "zz": when.tzname() or "",
    }
    if tok in simple:
        return str(simple[tok])
    if tok.startswith("S"):
        return f"{when.microsecond:06d}000"[: len(tok)]
    if tok in ("gggg", "gg", "w", "wo", "ww"):
        year, week = _locale_week(when)
        return {
            "gggg": f"{year:04d}",
            "gg": f"{year % 100:02d}",
            "w": str(week),
            "wo": _ordinal(week),
            "ww": f"{week:02d}",
        }[tok]
    return tok


def moment_format(when: _dt.datetime, fmt: str | None = None) -> str:
    """Format ``when`` with a moment.js format string (English locale).

    Without a format, moment's default ``YYYY-MM-DDTHH:mm:ssZ`` is used. Text in
    ``[brackets]`` is copied literally.
    """
    if not fmt:
        fmt = "YYYY-MM-DDTHH:mm:ssZ"
    out: list[str] = []
    for match in _TOKEN.finditer(fmt):
        tok = match.group(0)
        if tok.startswith("[") and tok.endswith("]"):
            out.append(tok[1:-1])
        elif tok in _LOCALE:
            out.append(moment_format(when, _LOCALE[tok]))
        else:
            out.append(_token(tok, when))
    return "".join(out)
