"""Zip members checked before extraction: no absolute or foreign paths, no '..', no symlinks."""
from __future__ import annotations

import stat
import zipfile
from pathlib import PurePosixPath


class UnsafeMember(ValueError):
    """A zip member that would land outside the folder it is extracted into."""


def safe_member(info: zipfile.ZipInfo, folder: str = "package folder") -> PurePosixPath:
    """The member's relative path; UnsafeMember (saying why) when extracting it is unsafe."""
    raw = info.filename
    if "\\" in raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":") or "\x00" in raw:
        raise UnsafeMember(f"member '{raw}' has an absolute or foreign path")
    path = PurePosixPath(raw)
    if any(part in ("..", "") for part in path.parts) or path.is_absolute():
        raise UnsafeMember(f"member '{raw}' leaves the {folder}")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeMember(f"member '{raw}' is a symbolic link")
    return path
