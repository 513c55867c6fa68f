# cython: language_level=3
"""The `echo` function: returns its argument (vectorized: the column comes back as it is)."""
from kuiper.api import Function


class Echo(Function):
    def validate(self, args):
        if len(args) != 1:
            return f"echo takes 1 argument, got {len(args)}"
        return None

    def exec(self, args, ctx):
        return args[0]

    def exec_batch(self, columns, ctx):
        return columns[0]
