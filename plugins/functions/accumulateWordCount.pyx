# cython: language_level=3
"""`accumulateWordCount(text, sep)`: the running total of words seen by this rule's call site.

The total lives in the extension state (`incr_counter`/`get_counter`), so it is saved with
checkpoints and survives a rule restart. The batch form counts a whole column at once and
returns each row's running total, the same values `exec` gives row by row.
"""
import numpy as np

from kuiper.api import Column, Function

COUNTER = "allwordcount"


class AccumulateWordCount(Function):
    def validate(self, args):
        if len(args) != 2:
            return f"accumulateWordCount takes 2 arguments (text, separator), got {len(args)}"
        return None

    def exec(self, args, ctx):
        text, sep = args
        ctx.incr_counter(COUNTER, _words(text, sep))
        return ctx.get_counter(COUNTER)

    def exec_batch(self, columns, ctx):
        texts = columns[0].to_pylist()
        seps = columns[1].to_pylist()
        cdef Py_ssize_t i, n = len(texts)
        cdef long long[:] counts
        out = np.empty(n, dtype=np.int64)
        counts = out
        for i in range(n):
            counts[i] = _words(texts[i], seps[i])
        base = ctx.get_counter(COUNTER)
        np.cumsum(out, out=out)
        total = int(out[n - 1]) if n else 0
        ctx.incr_counter(COUNTER, total)
        out += base
        return Column("bigint", out)


cdef long long _words(object text, object sep):
    if text is None:
        return 0
    if sep is None or sep == "":
        return len(str(text).split())
    return len(str(text).split(str(sep)))
