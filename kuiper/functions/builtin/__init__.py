"""Built-in scalar functions by family; importing this package registers them all."""
from kuiper.functions.builtin import (  # noqa: F401
    arrays,
    conversion,
    datetime,
    hashing,
    json_funcs,
    math,
    objects,
    other,
    strings,
)
