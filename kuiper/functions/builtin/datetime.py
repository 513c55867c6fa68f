"""Date and time functions. Datetime columns are epoch ms; strings with an offset keep it.

Fields (hour(), month(), ...) are read in the configured zone (`timeutil.set_timezone`, UTC by
default) or in a string's own offset; over datetime/bigint columns in a fixed-offset zone
they are computed with numpy, without a Python call per row.
"""
from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np

from kuiper.api.batch import BIGINT, DATETIME, STRING, Column
from kuiper.functions.checks import all_of, datetime_args, int_args, string_args
from kuiper.functions.gostyle import go_str
from kuiper.functions.registry import LITERAL, builtin
from kuiper.functions.timeutil import (
    day_name,
    format_time,
    from_millis,
    get_timezone,
    month_name,
    parse_duration,
    to_datetime,
    to_millis,
)
from kuiper.functions.vector import broadcast, constant_column, fail, rowwise, scalar_arg


def _fsp_check(args: list[Any]) -> str | None:
    if args and not (isinstance(args[0], int) and not isinstance(args[0], bool)):
        return "Expect int type for parameter 1"
    return None


def _now_text(fsp: int, time_only: bool) -> str:
    pattern = "yyyy-MM-dd HH:mm:ss"
    text = format_time(datetime.now(get_timezone()), pattern)
    if 1 <= fsp <= 6:
        micro = datetime.now(get_timezone()).microsecond
        text += "." + f"{micro:06d}"[:fsp]
    return text.split(" ", 1)[1] if time_only else text


def _current(time_only: bool) -> Any:
    def exec_batch(args: list[Column], n: int, ctx: Any) -> Column:
        fsp = 0
        if args:
            _, value = scalar_arg(args[0], n)
            fsp = value if isinstance(value, int) else 0
        return constant_column(_now_text(fsp, time_only), n, STRING)

    return exec_batch


builtin("now", 0, 1, aliases=("current_timestamp", "local_time", "local_timestamp"),
        return_kind=STRING, validate=_fsp_check, arg_modes=(LITERAL,))(_current(False))
builtin("cur_time", 0, 1, aliases=("current_time",), return_kind=STRING, validate=_fsp_check,
        arg_modes=(LITERAL,))(_current(True))


@builtin("cur_date", 0, aliases=("current_date",), return_kind=STRING)
def _cur_date(args: list[Column], n: int, ctx: Any) -> Column:
    return constant_column(format_time(datetime.now(get_timezone()), "yyyy-MM-dd"), n, STRING)


@builtin("format_time", 2, return_kind=STRING, validate=all_of(datetime_args(0), string_args(1)))
@rowwise(kind=STRING)
def _format_time(t: Any, pattern: Any) -> str:
    return format_time(to_datetime(t), go_str(pattern))


@builtin("date_calc", 2, return_kind=STRING, validate=all_of(datetime_args(0), string_args(1)))
@rowwise(kind=STRING)
def _date_calc(t: Any, duration: Any) -> str:
    """`t` moved by a Go duration ("1h30m", "-10s"), as yyyy-MM-dd HH:mm:ss."""
    moved = to_datetime(t) + timedelta(microseconds=parse_duration(go_str(duration)) // 1000)
    return format_time(moved, "yyyy-MM-dd HH:mm:ss")


@builtin("date_diff", 2, return_kind=BIGINT, validate=datetime_args(0, 1))
@rowwise(kind=BIGINT)
def _date_diff(t1: Any, t2: Any) -> int:
    """t2 - t1 as a Go duration: nanoseconds."""
    return (to_millis(to_datetime(t2)) - to_millis(to_datetime(t1))) * 1_000_000


def _fixed_offset_ms() -> int | None:
    zone = get_timezone()
    if zone is UTC:
        return 0
    if isinstance(zone, timezone):
        off = zone.utcoffset(None)
        return int(off.total_seconds() * 1000)
    return None


def _numpy_part(part: str, ms: np.ndarray) -> np.ndarray:
    """A calendar field of local epoch-ms values (already shifted to the zone)."""
    if part == "hour":
        return (ms // 3_600_000) % 24
    if part == "minute":
        return (ms // 60_000) % 60
    if part == "second":
        return (ms // 1000) % 60
    if part == "microsecond":
        return (ms % 1000) * 1000
    days = ms // 86_400_000
    if part == "day_of_week":  # 1970-01-01 was a Thursday; Sunday = 0
        return (days + 4) % 7
    d = days.astype("datetime64[D]")
    if part == "day_of_month":
        return (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    if part == "month":
        return d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    if part == "day_of_year":
        return (d - d.astype("datetime64[Y]")).astype(np.int64) + 1
    raise KeyError(part)


_SCALAR_PARTS = {
    "hour": lambda t: t.hour,
    "minute": lambda t: t.minute,
    "second": lambda t: t.second,
    "microsecond": lambda t: t.microsecond,
    "day_of_week": lambda t: (t.weekday() + 1) % 7,
    "day_of_month": lambda t: t.day,
    "month": lambda t: t.month,
    "day_of_year": lambda t: t.timetuple().tm_yday,
}


def _part(part: str) -> Any:
    scalar = _SCALAR_PARTS[part]
    slow = rowwise(lambda v: scalar(to_datetime(v)), BIGINT)

    def exec_batch(args: list[Column], n: int, ctx: Any) -> Column:
        col = broadcast(args[0], n)
        offset = _fixed_offset_ms()
        if col.kind in (DATETIME, BIGINT) and offset is not None:
            return Column(BIGINT, _numpy_part(part, col.values + offset).astype(np.int64), col.valid)
        return slow([col], n, ctx)

    return exec_batch


_ONE_DATETIME = datetime_args(0)
for _name, _aliases in (("hour", ()), ("minute", ()), ("second", ()), ("microsecond", ()),
                        ("day_of_week", ()), ("day_of_month", ("day",)), ("month", ()),
                        ("day_of_year", ())):
    builtin(_name, 1, aliases=_aliases, return_kind=BIGINT, validate=_ONE_DATETIME)(_part(_name))

builtin("day_name", 1, return_kind=STRING, validate=_ONE_DATETIME)(
    rowwise(lambda v: day_name(to_datetime(v)), STRING)
)
builtin("month_name", 1, return_kind=STRING, validate=_ONE_DATETIME)(
    rowwise(lambda v: month_name(to_datetime(v)), STRING)
)


@builtin("last_day", 1, return_kind=STRING, validate=_ONE_DATETIME)
@rowwise(kind=STRING)
def _last_day(v: Any) -> str:
    """The last day of the month of `v`, as yyyy-MM-dd."""
    t = to_datetime(v)
    return f"{t.year:04d}-{t.month:02d}-{calendar.monthrange(t.year, t.month)[1]:02d}"


def _strict_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or (
        isinstance(v, float) and not v.is_integer()
    ):
        fail(f"cannot convert {go_str(v)} to int")
    return int(v)


@builtin("from_days", 1, return_kind=STRING, validate=int_args(0))
@rowwise(kind=STRING)
def _from_days(days: Any) -> str | None:
    """Day `days` counted from 1970-01-01 (day 1), as yyyy-MM-dd; 0 gives nil."""
    d = _strict_int(days)
    if d == 0:
        return None
    t = from_millis(0) + timedelta(days=d - 1)
    return format_time(t, "yyyy-MM-dd")


@builtin("from_unix_time", 1, return_kind=STRING, validate=int_args(0))
@rowwise(kind=STRING)
def _from_unix_time(seconds: Any) -> str | None:
    """Epoch seconds as yyyy-MM-dd HH:mm:ss in the configured zone; 0 gives nil."""
    s = _strict_int(seconds)
    if s == 0:
        return None
    return format_time(from_millis(s * 1000), "yyyy-MM-dd HH:mm:ss")
