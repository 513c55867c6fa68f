# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Window assignment: int64 ms timestamps -> window bounds, and row ranges of windows.

Bounds functions only: they say which rows belong to which window (start/end row indices into
a timestamp-sorted buffer, or window starts per row); the aggregation kernels in `hashagg`
compute over those rows. Time windows are aligned to epoch boundaries (offset 0).
"""
from libc.stdint cimport int64_t

import numpy as np


cdef inline int64_t _floor_div(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


def tumbling_starts(const int64_t[:] ts, int64_t size):
    """The start of the epoch-aligned tumbling window [start, start + size) of each row."""
    cdef Py_ssize_t i, n = ts.shape[0]
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[:] ov = out
    with nogil:
        for i in range(n):
            ov[i] = _floor_div(ts[i], size) * size
    return out


def hopping_assign(const int64_t[:] ts, int64_t size, int64_t hop):
    """Rows -> every hopping window holding them: (rows, starts), windows [s, s + size) with
    s a multiple of hop; a row appears once per window, rows in order, windows ascending."""
    cdef Py_ssize_t i, n = ts.shape[0], k = 0
    cdef int64_t first, last, s
    cdef int64_t total = 0
    with nogil:
        for i in range(n):
            first = (_floor_div(ts[i] - size, hop) + 1) * hop
            last = _floor_div(ts[i], hop) * hop
            if last >= first:
                total += (last - first) // hop + 1
    rows = np.empty(total, dtype=np.int64)
    starts = np.empty(total, dtype=np.int64)
    cdef int64_t[:] rv = rows
    cdef int64_t[:] sv = starts
    with nogil:
        for i in range(n):
            first = (_floor_div(ts[i] - size, hop) + 1) * hop
            last = _floor_div(ts[i], hop) * hop
            s = first
            while s <= last:
                rv[k] = i
                sv[k] = s
                k += 1
                s += hop
    return rows, starts


def range_bounds(const int64_t[:] sorted_ts, const int64_t[:] lo, const int64_t[:] hi,
                 bint lo_open, bint hi_closed):
    """Row ranges of windows over a sorted timestamp buffer: for each window w,
    rows [start[w], end[w]) have lo[w] <= ts < hi[w] (`lo_open`: lo < ts; `hi_closed`: ts <= hi)."""
    cdef Py_ssize_t w, nw = lo.shape[0], n = sorted_ts.shape[0]
    cdef Py_ssize_t a, b, mid
    starts = np.empty(nw, dtype=np.int64)
    ends = np.empty(nw, dtype=np.int64)
    cdef int64_t[:] st = starts
    cdef int64_t[:] en = ends
    with nogil:
        for w in range(nw):
            a, b = 0, n
            while a < b:
                mid = (a + b) >> 1
                if sorted_ts[mid] < lo[w] or (lo_open and sorted_ts[mid] == lo[w]):
                    a = mid + 1
                else:
                    b = mid
            st[w] = a
            b = n
            while a < b:
                mid = (a + b) >> 1
                if sorted_ts[mid] < hi[w] or (hi_closed and sorted_ts[mid] == hi[w]):
                    a = mid + 1
                else:
                    b = mid
            en[w] = a
    return starts, ends


def session_bounds(const int64_t[:] sorted_ts, int64_t timeout, int64_t max_duration,
                   int64_t now, bint closed_input):
    """Sessions over a sorted buffer: a session ends after `timeout` ms of silence or at the
    first multiple of `max_duration` more than `max_duration` after it opened.
    Returns (row_start, row_end, window_start, window_end) of every session that is over by
    `now` (all of them when `closed_input`); rows past the last one stay open."""
    cdef Py_ssize_t i, n = sorted_ts.shape[0], k = 0, begin = 0
    out_rs = np.empty(n, dtype=np.int64)
    out_re = np.empty(n, dtype=np.int64)
    out_ws = np.empty(n, dtype=np.int64)
    out_we = np.empty(n, dtype=np.int64)
    cdef int64_t[:] rs = out_rs
    cdef int64_t[:] re = out_re
    cdef int64_t[:] ws = out_ws
    cdef int64_t[:] we = out_we
    cdef int64_t first, tick, t, prev, end
    with nogil:
        while begin < n:
            first = sorted_ts[begin]
            tick = (_floor_div(first, max_duration) + 1) * max_duration
            if tick - first <= max_duration:
                tick += max_duration
            prev = first
            end = -1
            i = begin + 1
            while i < n:
                t = sorted_ts[i]
                if t - prev > timeout and prev + timeout < tick:
                    end = prev + timeout
                    break
                if t >= tick:
                    end = tick
                    break
                prev = t
                i += 1
            if end < 0:
                # the session is still open unless its timeout or max tick passed
                end = prev + timeout
                if tick < end:
                    end = tick
                if not closed_input and end > now:
                    break
            rs[k] = begin
            re[k] = i
            ws[k] = first
            we[k] = end
            k += 1
            begin = i
    return out_rs[:k].copy(), out_re[:k].copy(), out_ws[:k].copy(), out_we[:k].copy()
