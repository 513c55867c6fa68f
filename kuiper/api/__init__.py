"""The published plugin contract: the one module a plugin imports (stdlib and numpy only)."""
from kuiper.api.batch import (
    ANY,
    ARRAY,
    BIGINT,
    BOOLEAN,
    BYTEA,
    DATETIME,
    FLOAT,
    STRING,
    STRUCT,
    Batch,
    Column,
    concat_batches,
)
from kuiper.api.contract import Context, Function, LookupSource, Sink, Source

__all__ = [
    "ANY", "ARRAY", "BIGINT", "BOOLEAN", "BYTEA", "DATETIME", "FLOAT", "STRING", "STRUCT",
    "Batch", "Column", "Context", "Function", "LookupSource", "Sink", "Source", "concat_batches",
]
