"""restartStrategy against a `kuiper server`: a rule whose plugin sink raises restarts
`attempts` times after growing delays, then stays `stopped by error` with the error, as
GET /rules, GET /rules/{id}/status and `kuiper getstatus rule` show it."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

from server_support import FILE_STREAM, ServerProcess, cli, wait_until

from kuiper.plugins.build import build_plugin
from kuiper.plugins.manager import PluginManager

OFFLINE_SINK = """
    import time
    from kuiper.api import Sink

    class Offline(Sink):
        def configure(self, conf):
            self.log = conf["log"]

        def open(self, ctx):  # once a run: the time the rule (re)started
            with open(self.log, "a") as fh:
                fh.write(f"{time.monotonic()}\\n")

        def collect(self, ctx, data):
            raise ConnectionError("device offline")
"""


def _install_sink(root: Path, tmp_path: Path) -> None:
    src = tmp_path / "src" / "offline.py"
    src.parent.mkdir(parents=True)
    src.write_text(textwrap.dedent(OFFLINE_SINK))
    package = build_plugin(src, "sinks", "offline", "1.0.0", None, tmp_path / "offline.zip",
                           compile=False)
    PluginManager(root, register=False).install("sinks", "offline", str(package))


def test_failing_sink_restarts_then_stops_by_error(root: Path, tmp_path: Path) -> None:
    _install_sink(root, tmp_path)
    calls = tmp_path / "calls.log"
    server = ServerProcess(root).start()
    try:
        api = server.api
        api.ok("POST", "/streams", {"sql": FILE_STREAM})
        strategy = {"attempts": 3, "delay": 400, "multiplier": 2, "maxDelay": 1000,
                    "jitterFactor": 0}
        api.ok("POST", "/rules", {"id": "flaky", "sql": "SELECT a FROM demo",
                                  "actions": [{"offline": {"log": str(calls)}}],
                                  "options": {"restartStrategy": strategy}})
        # between two attempts the status tells what failed and when the next try is due
        waiting = wait_until(lambda: (s := api.status("flaky"))["nextStartTimestamp"] and s,
                             what="a pending restart")
        assert waiting["status"] == "stopped by error"
        assert "device offline" in waiting["message"] and "restarting in" in waiting["message"]
        assert waiting["nextStartTimestamp"] >= waiting["lastStopTimestamp"] + 400
        # the third restart is running (no restart pending) until its sink fails again
        final = wait_until(lambda: (s := api.status("flaky"))["restarts"] == 3
                           and not s["nextStartTimestamp"] and s["status"] != "running" and s,
                           what="the last attempt to fail")
        assert final["status"] == "stopped by error"
        assert "device offline" in final["message"] and "restarting" not in final["message"]
        assert final["message"].startswith("offline_0: sink plugin 'offline'")
        assert final["lastStopTimestamp"] >= final["lastStartTimestamp"] > 0
        assert final["sink_offline_0_0_exceptions_total"] >= 1
        assert "device offline" in final["sink_offline_0_0_last_exception"]

        # one first run and 3 restarts, waiting 400, 800 and 1000 (maxDelay) ms (long enough for a
        # loaded machine's status polls to see a pending restart)
        times = [float(x) for x in calls.read_text().split()]
        assert len(times) == 4, times
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        for gap, delay in zip(gaps, (0.4, 0.8, 1.0), strict=True):
            assert gap >= delay, gaps

        listed = {r["id"]: r["status"] for r in api.ok("GET", "/rules")}
        assert listed["flaky"] == f"stopped by error: {final['message']}"
        shown = json.loads(cli(server.port, "getstatus", "rule", "flaky").stdout)
        assert shown["status"] == "stopped by error" and shown["message"] == final["message"]

        # a manual start runs it again with a fresh count of attempts
        api.ok("POST", "/rules/flaky/start")
        wait_until(lambda: len(calls.read_text().split()) >= 5, what="the restarted rule")
        api.ok("POST", "/rules/flaky/stop")
        stopped = api.wait_status("flaky", "stopped")
        assert stopped["message"] == "canceled manually" and not stopped["nextStartTimestamp"]
    finally:
        server.stop()
