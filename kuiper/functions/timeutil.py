"""Time values for functions: the configured zone, eKuiper's Java-style patterns, parsing, durations."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kuiper.functions.gostyle import go_str
from kuiper.functions.vector import fail

_zone: tzinfo = UTC


def set_timezone(name: str) -> None:
    """Use zone `name` (IANA, "UTC", "Local") for datetimes without their own offset.

    eKuiper's `basic.timezone`; the runtime calls this from configuration. Default: UTC.
    """
    global _zone
    if name in ("", "UTC"):
        _zone = UTC
    elif name == "Local":
        _zone = datetime.now().astimezone().tzinfo or UTC
    else:
        _zone = load_zone(name)


def get_timezone() -> tzinfo:
    return _zone


def load_zone(name: str) -> tzinfo:
    """A zone by IANA name; an EvalError worded like Go's time.LoadLocation otherwise."""
    if name == "UTC" or name == "":
        return UTC
    if name == "Local":
        return datetime.now().astimezone().tzinfo or UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"unknown time zone {name}")


def from_millis(ms: int) -> datetime:
    """Epoch milliseconds as an aware datetime in the configured zone."""
    return datetime.fromtimestamp(ms // 1000, _zone).replace(microsecond=(ms % 1000) * 1000)


def to_millis(t: datetime) -> int:
    delta = t - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


_DATE_RE = re.compile(
    r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[ T](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(\.\d+)?)?)?)?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_TIME_RE = re.compile(r"^(\d{1,2})(?::(\d{1,2})(?::(\d{1,2}))?)?$")


def _offset(text: str | None) -> tzinfo:
    if not text:
        return _zone
    if text == "Z":
        return UTC
    from datetime import timezone

    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_time(text: str) -> datetime:
    """A datetime from eKuiper's accepted string forms (ISO 8601 and its shortened variants)."""
    s = text.strip()
    try:
        t = datetime.fromisoformat(s)
        return t if t.tzinfo is not None else t.replace(tzinfo=_zone)
    except ValueError:
        pass
    m = _DATE_RE.match(s)
    try:
        if m:
            y, mo, d, h, mi, sec, frac, off = m.groups()
            micro = int((frac[1:] + "000000")[:6]) if frac else 0
            return datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0),
                            int(sec or 0), micro, tzinfo=_offset(off))
        m = _TIME_RE.match(s)
        if m:
            today = datetime.now(_zone)
            h, mi, sec = (int(x or 0) for x in m.groups())
            return today.replace(hour=h, minute=mi, second=sec, microsecond=0)
    except ValueError:
        pass
    fail(f"can't parse string as time: {text}")


def to_datetime(v: Any) -> datetime:
    """cast.InterfaceToTime: numbers are epoch ms, strings are parsed, datetimes pass."""
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=_zone)
    if isinstance(v, bool):
        fail(f"unsupported type to convert to timestamp {go_str(v)}")
    if isinstance(v, int):
        return from_millis(v)
    if isinstance(v, float):
        return from_millis(int(v))
    if isinstance(v, str):
        return parse_time(v)
    fail(f"unsupported type to convert to timestamp {go_str(v)}")


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def month_name(t: datetime) -> str:
    return _MONTHS[t.month - 1]


def day_name(t: datetime) -> str:
    return _DAYS[t.weekday()]


def _run(p: str, i: int, cap: int) -> int:
    j = 1
    while i + j < len(p) and j < cap and p[i + j] == p[i]:
        j += 1
    return j


def _zone_offset(t: datetime, colon: bool, hours_only: bool = False) -> str:
    off = t.utcoffset() or timedelta(0)
    total = int(off.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hh, mm = divmod(abs(total), 60)
    if hours_only:
        return f"{sign}{hh:02d}"
    return f"{sign}{hh:02d}:{mm:02d}" if colon else f"{sign}{hh:02d}{mm:02d}"


def format_time(t: datetime, pattern: str) -> str:
    """Format `t` with eKuiper's Java-style pattern (YYYY MM dd HH mm ss SSS, see the docs)."""
    p = pattern
    out: list[str] = []
    i = 0
    while i < len(p):
        c = p[i]
        if c == "\\":
            i += 1
            if i >= len(p):
                fail(f"{pattern} is invalid")
            out.append(p[i])
            i += 1
            continue
        if c in "Yy":
            j = _run(p, i, 5)
            if j == 4:
                out.append(f"{t.year:04d}")
            elif j == 2:
                out.append(f"{t.year % 100:02d}")
            else:
                fail(f"invalid time format {pattern} for Y/y")
        elif c == "G":
            j = 1
            out.append("AD")
        elif c == "M":
            j = _run(p, i, 4)
            out.append([str(t.month), f"{t.month:02d}", month_name(t)[:3], month_name(t)][j - 1])
        elif c == "d":
            j = _run(p, i, 2)
            out.append(str(t.day) if j == 1 else f"{t.day:02d}")
        elif c == "E":
            j = _run(p, i, 4)
            if j not in (3, 4):
                fail(f"invalid time format {pattern} for E")
            out.append(day_name(t)[:3] if j == 3 else day_name(t))
        elif c == "H":
            j = _run(p, i, 2)
            if j != 2:
                fail(f"invalid time format {pattern} of H, only HH is supported")
            out.append(f"{t.hour:02d}")
        elif c == "h":
            j = _run(p, i, 2)
            h12 = t.hour % 12 or 12
            out.append(str(h12) if j == 1 else f"{h12:02d}")
        elif c == "a":
            j = 1
            out.append("PM" if t.hour >= 12 else "AM")
        elif c == "m":
            j = _run(p, i, 2)
            out.append(str(t.minute) if j == 1 else f"{t.minute:02d}")
        elif c == "s":
            j = _run(p, i, 2)
            out.append(str(t.second) if j == 1 else f"{t.second:02d}")
        elif c == "S":
            j = _run(p, i, len(p))
            digits = f"{t.microsecond:06d}000"[:j] if j <= 9 else f"{t.microsecond:06d}".ljust(j, "0")
            out.append("." + digits)
        elif c == "z":
            j = 1
            out.append(t.tzname() or "UTC")
        elif c == "Z":
            j = 1
            out.append(_zone_offset(t, colon=False))
        elif c == "X":
            j = _run(p, i, 3)
            out.append(_zone_offset(t, colon=j == 3, hours_only=j == 1))
        elif c == "'":
            if i + 1 < len(p) and p[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            end = p.find("'", i + 1)
            end = len(p) if end < 0 else end
            out.append(p[i + 1 : end])
            i = end + 1
            continue
        else:
            j = 1
            out.append(c)
        i += j
    return "".join(out)


def rfc3339(t: datetime) -> str:
    """Go's time.Time JSON form (RFC 3339 with trimmed fractional seconds, Z for UTC)."""
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        base += ("." + f"{t.microsecond:06d}").rstrip("0")
    off = t.utcoffset()
    return base + ("Z" if not off else _zone_offset(t, colon=True))


_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds ("1h30m", "-1.5s", "200ms")."""
    s = text
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    pos, total = 0, 0.0
    if not s:
        fail(f'time: invalid duration "{text}"')
    while pos < len(s):
        m = _DURATION_RE.match(s, pos)
        if not m:
            fail(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    return sign * int(round(total))
