"""Fetch a package named by an http(s) URL into a temporary file (plugins and services)."""
from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from kuiper.errors import ConfigError

TIMEOUT_S = 120.0
MAX_BYTES = 1 << 30


@contextlib.asynccontextmanager
async def local_file(file: str) -> AsyncIterator[str]:
    """`file` itself when it is a path or a file:// URL; for http(s), a temporary copy with
    the URL's suffix (.zip by default), removed afterwards."""
    parsed = urllib.parse.urlparse(file)
    if parsed.scheme not in ("http", "https"):
        yield file
        return
    suffix = Path(parsed.path).suffix or ".zip"
    fd, tmp = tempfile.mkstemp(prefix="kuiper-download-", suffix=suffix)
    os.close(fd)
    try:
        await _download(file, Path(tmp))
        yield tmp
    finally:
        Path(tmp).unlink(missing_ok=True)


async def _download(url: str, dest: Path) -> None:
    size = 0
    try:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
            if resp.status != 200:
                raise ConfigError(f"cannot download {url}: HTTP {resp.status}")
            with dest.open("wb") as out:
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise ConfigError(f"cannot download {url}: larger than {MAX_BYTES} bytes")
                    out.write(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConfigError(f"cannot download {url}: {exc}") from exc
