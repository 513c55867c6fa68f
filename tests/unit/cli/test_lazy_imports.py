"""`kuiper run` imports only what its rules use: no server, gRPC, MQTT or protobuf stack for
the quickstart (the connectors are looked up by type name, kuiper/io/__init__.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("aiohttp", "grpc", "paho", "google.protobuf", "urllib.request", "kuiper.server",
         "kuiper.io.sinks.mqtt", "kuiper.io.sources.mqtt", "kuiper.io.formats.protobuf",
         "kuiper.external.grpc_client", "redis", "psycopg", "nats")

PROBE = """
import json, sys
from kuiper.cli.main import main
rc = main(["run", sys.argv[1], "-q"])
print(json.dumps({"rc": rc, "heavy": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


def test_kuiper_run_quickstart_skips_the_heavy_imports() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                    os.environ.get("PYTHONPATH")]))}
    res = subprocess.run([sys.executable, "-c", PROBE, str(REPO / "examples" / "quickstart"),
                          *HEAVY], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    answer = json.loads(res.stdout.strip().splitlines()[-1])
    assert answer == {"rc": 0, "heavy": []}
    assert "dev-002" in res.stderr  # the rule ran: the log sink printed its results
