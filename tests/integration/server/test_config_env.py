"""`kuiper server` takes its REST port from `KUIPER__BASIC__RESTPORT` over etc/kuiper.yaml."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from server_support import Api, env, free_port, wait_until


def test_env_rest_port_beats_the_yaml(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    yaml_port, env_port = free_port(), free_port()
    (root / "etc" / "kuiper.yaml").write_text(
        f"basic:\n  restIp: 127.0.0.1\n  restPort: {yaml_port}\n")
    log = tmp_path / "server.log"
    variables = {**env(), "KUIPER__BASIC__RESTPORT": str(env_port)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kuiper.cli.main", "server", "--root",
                                 str(root)], stdout=out, stderr=subprocess.STDOUT,
                                env=variables, cwd=root)
    api = Api(f"http://127.0.0.1:{env_port}")

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            return api.get("/ping")[0] == 200
        except OSError:
            return False

    try:
        wait_until(up, 30, every=0.05, what="kuiper server on the env port")
        assert f"127.0.0.1:{env_port}" in log.read_text()
        with pytest.raises(OSError):  # nothing listens on the yaml's port
            Api(f"http://127.0.0.1:{yaml_port}").get("/ping")
    finally:
        proc.terminate()
        proc.wait(20)
