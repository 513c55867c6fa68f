"""Installing plugin zips: layout, URLs and checksums, zip slip, conflicts, rollback, remove."""
from __future__ import annotations

import hashlib
import http.server
import json
import stat
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from plugin_testkit import make_zip

from kuiper.errors import ConflictError, NotFoundError, PluginError
from kuiper.plugins.manager import PluginManager

GREET = """
from kuiper.api import Function
class Greet(Function):
    def exec(self, args, ctx):
        return "hello " + str(args[0])
"""
SOURCE = """
from kuiper.api import Source
class Ticker(Source):
    def configure(self, datasource, conf):
        self.conf = conf
"""


@pytest.fixture
def greet_zip(tmp_path: Path) -> Path:
    return make_zip(tmp_path / "greet.zip", {
        "greet.py": GREET,
        "greet.json": json.dumps({"version": "1.2.0", "about": {"description": {"en_US": "hi"}}}),
        "etc/words.txt": "a\nb\n",
        "etc/sub/more.txt": "c",
    })


def test_install_list_get_remove(manager: PluginManager, root: Path, greet_zip: Path,
                                 registry) -> None:
    info = manager.install("function", "greet", str(greet_zip))
    assert info["file"] == "greet.py" and info["version"] == "1.2.0"
    assert info["functions"] == ["greet"] and info["about"]["description"]["en_US"] == "hi"
    assert (root / "plugins/functions/greet.py").is_file()
    assert (root / "etc/functions/greet/words.txt").read_text() == "a\nb\n"
    assert (root / "etc/functions/greet/sub/more.txt").read_text() == "c"
    assert manager.list("functions") == ["greet"]
    assert manager.udfs() == {"greet": "greet"}
    fdef = registry.lookup("greet")
    from kuiper.api import Column

    assert fdef.exec_batch([Column.from_values(["x"])], 1, None).to_pylist() == ["hello x"]
    manager.remove("functions", "greet")
    assert manager.list("functions") == [] and not (root / "etc/functions/greet").exists()
    assert registry.lookup("greet") is None
    with pytest.raises(NotFoundError):
        manager.get("functions", "greet")
    with pytest.raises(NotFoundError):
        manager.remove("functions", "greet")


def test_restart_sees_installed_plugins(manager: PluginManager, root: Path, greet_zip: Path,
                                        registry) -> None:
    manager.install("functions", "greet", str(greet_zip))
    again = PluginManager(root)
    assert again.list("functions") == ["greet"] and again.get("functions", "greet")["version"] == "1.2.0"


def test_existing_name_needs_replace(manager: PluginManager, greet_zip: Path, tmp_path: Path) -> None:
    manager.install("functions", "greet", str(greet_zip))
    with pytest.raises(ConflictError, match="already installed"):
        manager.install("functions", "greet", str(greet_zip))
    newer = make_zip(tmp_path / "greet2.zip", {"greet.py": GREET.replace("hello", "hi")})
    manager.install("functions", "greet", str(newer), replace=True)
    from kuiper.api import Column

    fdef = manager.registry.lookup("greet")
    assert fdef.exec_batch([Column.from_values(["x"])], 1, None).to_pylist() == ["hi x"]


def test_source_yaml_is_not_overwritten(manager: PluginManager, root: Path, tmp_path: Path) -> None:
    conf = root / "etc/sources/ticker.yaml"
    conf.parent.mkdir(parents=True)
    conf.write_text("default: {mine: 1}\n")
    z = make_zip(tmp_path / "t.zip", {"ticker.py": SOURCE, "ticker.yaml": "default: {theirs: 1}\n"})
    manager.install("sources", "ticker", str(z))
    assert conf.read_text() == "default: {mine: 1}\n"
    manager.remove("sources", "ticker")
    z2 = make_zip(tmp_path / "t2.zip", {"ticker.py": SOURCE, "ticker.yaml": "default: {theirs: 1}\n"})
    manager.install("sources", "ticker", str(z2))
    assert conf.read_text() == "default: {theirs: 1}\n"


def test_source_plugin_registered_with_runtime(manager: PluginManager, tmp_path: Path) -> None:
    from kuiper.runtime import registry as runtime_registry

    z = make_zip(tmp_path / "t.zip", {"ticker.py": SOURCE})
    manager.install("sources", "ticker", str(z))
    src = runtime_registry.get_source_factory("ticker")()
    src.configure("", {"a": 1})
    assert src.conf == {"a": 1}


@pytest.mark.parametrize(("member", "why"), [
    ("../evil.py", "leaves the plugin folder"),
    ("etc/../../evil.txt", "leaves the plugin folder"),
    ("/etc/passwd", "absolute"),
    ("C:/evil.py", "absolute"),
])
def test_zip_slip_is_refused(manager: PluginManager, root: Path, tmp_path: Path,
                             member: str, why: str) -> None:
    z = make_zip(tmp_path / "slip.zip", {"greet.py": GREET, member: "x"})
    with pytest.raises(PluginError, match=why):
        manager.install("functions", "greet", str(z))
    assert not (tmp_path / "evil.py").exists() and manager.list("functions") == []


def test_symlink_member_is_refused(manager: PluginManager, tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("greet.py", GREET)
        info = zipfile.ZipInfo("etc/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(PluginError, match="symbolic link"):
        manager.install("functions", "greet", str(path))


def test_zip_without_module(manager: PluginManager, tmp_path: Path) -> None:
    z = make_zip(tmp_path / "empty.zip", {"other.py": GREET})
    with pytest.raises(PluginError, match=r"no module for function plugin 'greet' \(found: other.py\)"):
        manager.install("functions", "greet", str(z))


def test_broken_module_is_rolled_back(manager: PluginManager, root: Path, greet_zip: Path,
                                      tmp_path: Path) -> None:
    manager.install("functions", "greet", str(greet_zip))
    broken = make_zip(tmp_path / "broken.zip", {"greet.py": "import nothing_here_at_all\n",
                                                "etc/words.txt": "new"})
    with pytest.raises(PluginError, match="nothing_here_at_all"):
        manager.install("functions", "greet", str(broken), replace=True)
    assert (root / "plugins/functions/greet.py").read_text() == GREET
    assert (root / "etc/functions/greet/words.txt").read_text() == "a\nb\n"
    assert manager.get("functions", "greet")["version"] == "1.2.0"


def test_wrong_symbol_fails_install(manager: PluginManager, root: Path, tmp_path: Path) -> None:
    z = make_zip(tmp_path / "w.zip", {"greet.py": GREET.replace("class Greet", "class Hello")})
    with pytest.raises(PluginError, match="does not export the symbol 'Greet'"):
        manager.install("functions", "greet", str(z))
    assert not (root / "plugins/functions/greet.py").exists()


def test_builtin_function_name_is_refused(manager: PluginManager, tmp_path: Path) -> None:
    z = make_zip(tmp_path / "abs.zip", {"abs.py": GREET.replace("Greet", "Abs")})
    with pytest.raises(PluginError, match="'abs' is the name of a built-in function"):
        manager.install("functions", "abs", str(z))


def test_function_names_unique_across_plugins(manager: PluginManager, greet_zip: Path,
                                              tmp_path: Path) -> None:
    manager.install("functions", "greet", str(greet_zip))
    other = make_zip(tmp_path / "o.zip", {
        "other.py": GREET, "other.json": json.dumps({"functions": ["greet"]})})
    with pytest.raises(PluginError, match="already exported by plugin greet"):
        manager.install("functions", "other", str(other))


def test_invalid_names(manager: PluginManager, greet_zip: Path) -> None:
    for bad in ("../x", "Greet", "a-b", ""):
        with pytest.raises(PluginError):
            manager.install("functions", bad, str(greet_zip))


def test_file_url_and_sha256(manager: PluginManager, greet_zip: Path) -> None:
    digest = hashlib.sha256(greet_zip.read_bytes()).hexdigest()
    with pytest.raises(PluginError, match="expected 00"):
        manager.install("functions", "greet", greet_zip.as_uri(), sha256="00" * 32)
    manager.install("functions", "greet", greet_zip.as_uri(), sha256=digest)
    assert manager.list("functions") == ["greet"]


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "www"
    folder.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def test_http_install(manager: PluginManager, greet_zip: Path, http_dir) -> None:
    base, folder = http_dir
    (folder / "greet.zip").write_bytes(greet_zip.read_bytes())
    digest = hashlib.sha256(greet_zip.read_bytes()).hexdigest()
    info = manager.install("functions", "greet", f"{base}/greet.zip", sha256=digest)
    assert info["version"] == "1.2.0"
    with pytest.raises(PluginError, match="cannot download"):
        manager.install("functions", "nothere", f"{base}/nothere.zip")


def test_register_functions(manager: PluginManager, tmp_path: Path, registry) -> None:
    z = make_zip(tmp_path / "m.zip", {"maths.py": """
from kuiper.api import Function
class Twice(Function):
    def exec(self, args, ctx):
        return args[0] * 2
class Maths(Function):
    def exec(self, args, ctx):
        return 0
"""})
    manager.install("functions", "maths", str(z))
    manager.register_functions("maths", ["twice"])
    assert manager.get("functions", "maths")["functions"] == ["twice"]
    assert manager.udfs() == {"twice": "maths"}
    assert registry.lookup("twice") is not None
