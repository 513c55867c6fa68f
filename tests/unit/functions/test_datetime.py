"""Date/time functions: Java-style patterns, fields (numpy and row paths), zones, durations."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fnhelpers import call, check

from kuiper.api.batch import DATETIME, Column
from kuiper.errors import EvalError
from kuiper.functions.timeutil import format_time, parse_duration, set_timezone, to_datetime

T = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z, a Tuesday


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    set_timezone("UTC")
    yield
    set_timezone("UTC")


def DT(*ms: int | None) -> Column:
    return Column.from_values(list(ms), DATETIME)


@pytest.mark.parametrize(
    "pattern,want",
    [
        ("YYYY-MM-dd HH:mm:ss", "2023-11-14 22:13:20"),
        ("yyyy/M/d h:m:s a", "2023/11/14 10:13:20 PM"),
        ("YY MMM MMMM EEE EEEE G", "23 Nov November Tue Tuesday AD"),
        ("HH:mm:ssSSS", "22:13:20.123"),
        ("ss.S", "20..1"),
        ("Z XXX X XX z", "+0000 +00:00 +00 +0000 UTC"),
        ("'at' HH''mm \\Y", "at 22'13 Y"),
    ],
)
def test_format_patterns(pattern: str, want: str) -> None:
    assert format_time(to_datetime(T), pattern) == want


@pytest.mark.parametrize("pattern", ["YYY", "H", "E"])
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(EvalError):
        format_time(to_datetime(T), pattern)


def test_durations() -> None:
    assert parse_duration("1h30m") == 5_400_000_000_000
    assert parse_duration("-1.5s") == -1_500_000_000
    assert parse_duration("1h30m10s100ms200us300ns") == 5_410_100_200_300
    with pytest.raises(EvalError):
        parse_duration("10 days")


CASES = [
    ("format_time", [DT(T, None), ["YYYY-MM-dd"] * 2], ["2023-11-14", None], "string"),
    ("format_time", [["2023-01-02T03:04:05+08:00"], ["HH:mm XXX"]], ["03:04 +08:00"], "string"),
    ("date_calc", [DT(T, T), ["1h30m", "-24h"]], ["2023-11-14 23:43:20", "2023-11-13 22:13:20"], "string"),
    ("date_calc", [["2019-01-01"], ["1h30m10s"]], ["2019-01-01 01:30:10"], "string"),
    ("date_diff", [DT(T), DT(T + 1000)], [1_000_000_000], "bigint"),
    ("day_name", [DT(T)], ["Tuesday"], "string"),
    ("month_name", [["2023-02-01"]], ["February"], "string"),
    ("day_of_month", [DT(T, None)], [14, None], "bigint"),
    ("day", [["2024-02-29 10:00:00"]], [29], "bigint"),
    ("day_of_week", [DT(T, 0)], [2, 4], "bigint"),
    ("day_of_year", [DT(T)], [318], "bigint"),
    ("day_of_year", [["2024-12-31"]], [366], "bigint"),
    ("hour", [DT(T), ], [22], "bigint"),
    ("hour", [["2023-01-01T05:00:00+08:00"]], [5], "bigint"),
    ("minute", [DT(T)], [13], "bigint"),
    ("second", [DT(T)], [20], "bigint"),
    ("microsecond", [DT(T)], [123000], "bigint"),
    ("month", [DT(T, -1)], [11, 12], "bigint"),
    ("last_day", [DT(T)], ["2023-11-30"], "string"),
    ("last_day", [["2024-02-10"]], ["2024-02-29"], "string"),
    ("from_days", [[1, 366, 0, None]], ["1970-01-01", "1971-01-01", None, None], "string"),
    ("from_unix_time", [[1_700_000_000, 0]], ["2023-11-14 22:13:20", None], "string"),
]


@pytest.mark.parametrize("name,args,want,kind", CASES, ids=[c[0] for c in CASES])
def test_datetime(name: str, args: list, want: list, kind: str) -> None:
    check(name, args, want, kind)


def test_fields_in_a_zone_with_dst_use_the_row_path() -> None:
    set_timezone("America/New_York")
    summer, winter = 1_688_212_800_000, 1_704_110_400_000  # 2023-07-01/2024-01-01 12:00Z
    assert call("hour", DT(summer, winter)).to_pylist() == [8, 7]
    set_timezone("Asia/Shanghai")
    assert call("from_unix_time", [0 + 1]).to_pylist() == ["1970-01-01 08:00:01"]


def test_fixed_offset_zone_uses_numpy_path() -> None:
    from datetime import timedelta, timezone

    import kuiper.functions.timeutil as tu

    tu._zone = timezone(timedelta(hours=-3))
    assert call("hour", DT(T)).to_pylist() == [19]
    assert call("day_of_month", DT(1_700_000_000_000 - 22 * 3_600_000)).to_pylist() == [14 - 1]


def test_now_family() -> None:
    now = call("now", n=2).to_pylist()
    assert now[0] == now[1] and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", now[0])
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", call("cur_time", Column.from_values([3])).to_pylist()[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", call("current_date", n=1).to_pylist()[0])
    assert re.fullmatch(r"[\d-]+ [\d:]+\.\d{6}", call("local_timestamp", [6]).to_pylist()[0])


@pytest.mark.parametrize(
    "name,args,message",
    [
        ("hour", [["not a time"]], "can't parse string as time: not a time"),
        ("hour", [[True]], "unsupported type to convert to timestamp true"),
        ("date_calc", [DT(T), ["1 day"]], 'time: invalid duration "1 day"'),
        ("from_days", [[1.5]], "cannot convert 1.5 to int"),
        ("format_time", [DT(T), ["YYY"]], "invalid time format YYY for Y/y"),
    ],
)
def test_datetime_errors(name: str, args: list, message: str) -> None:
    with pytest.raises(EvalError) as err:
        call(name, *args)
    assert str(err.value).startswith(f"call func {name} error: {message}")
