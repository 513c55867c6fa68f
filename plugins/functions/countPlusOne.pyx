# cython: language_level=3
"""`countPlusOne(x)`: an aggregate, the number of non-null values in the group plus one."""
from kuiper.api import Function


class CountPlusOne(Function):
    def validate(self, args):
        if len(args) != 1:
            return f"countPlusOne takes 1 argument, got {len(args)}"
        return None

    def exec(self, args, ctx):
        values = args[0]
        cdef Py_ssize_t count = 0
        for v in values:
            if v is not None:
                count += 1
        return count + 1

    def is_aggregate(self):
        return True
