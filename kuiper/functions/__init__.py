"""SQL functions: the registry (built-in -> plugin -> external) and the built-in families."""
from kuiper.functions.registry import (
    RESERVED,
    ArgRef,
    FunctionContext,
    FunctionDef,
    FunctionRegistry,
    builtin,
    default_registry,
    lookup,
)

__all__ = [
    "RESERVED",
    "ArgRef",
    "FunctionContext",
    "FunctionDef",
    "FunctionRegistry",
    "builtin",
    "default_registry",
    "lookup",
]
