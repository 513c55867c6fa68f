"""LIKE / IN over dictionary-encoded strings and plain object arrays."""
import re

import numpy as np

def like_regex(pattern: str, escape: str | None = "\\") -> re.Pattern[str]: ...
def like_dictionary(strings: np.ndarray, pattern: str, escape: str | None = "\\") -> np.ndarray: ...
def gather_bool(
    codes: np.ndarray, lut: np.ndarray, valid: np.ndarray | None = None, negate: bool = False
) -> np.ndarray: ...
def isin_codes(codes: np.ndarray, valid: np.ndarray | None, lut: np.ndarray) -> np.ndarray: ...
def like_values(
    values: np.ndarray,
    valid: np.ndarray | None,
    pattern: str,
    escape: str | None = "\\",
    negate: bool = False,
) -> np.ndarray: ...
