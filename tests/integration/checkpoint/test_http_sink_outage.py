"""Acceptance (d): the REST sink's target (a local aiohttp server the test starts) is down for
OUTAGE_S seconds with the sink cache on; every result is delivered once it is back.

`kuiper server` runs a QoS 1 rule (file source, 500 ms checkpoints) into the REST sink with
`enableCache` (small memory threshold and pages, so the cache goes to disk). During the outage
the server is also killed with `kill -9` and restarted: at QoS 1 the cache writes through to
disk and takes part in the checkpoints, so the results cached before the checkpoint survive
the crash and those after it are produced again by the replayed input."""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from http_helpers import Target
from server_support import ServerProcess, wait_until

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0  # issue 10: the target is away this long
ROWS = 400
SEND_INTERVAL_MS = 90  # the input lasts ~36 s: results are produced during the whole outage


def _ids(target: Target) -> list[int]:
    return [json.loads(r.body)["id"] for r in target.received() if r.path == "/ingest"]


def test_rest_target_down_for_30s_every_result_delivered(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "sources").mkdir(parents=True)
    (root / "etc" / "sources" / "file.yaml").write_text(
        f"default:\n  fileType: lines\n  path: data\n  sendInterval: {SEND_INTERVAL_MS}\n")
    (root / "data").mkdir()
    (root / "data" / "rows.jsonl").write_text(
        "".join(json.dumps({"id": i}) + "\n" for i in range(ROWS)))
    target = Target().start()
    server = ServerProcess(root).start()
    try:
        server.api.ok("POST", "/streams", {"sql": (
            'CREATE STREAM rows (id BIGINT) WITH (TYPE="file", DATASOURCE="rows.jsonl", '
            'FORMAT="json")')})
        server.api.ok("POST", "/rules", {
            "id": "fwd", "sql": "SELECT id FROM rows",
            "options": {"qos": 1, "checkpointInterval": 500},
            "actions": [{"rest": {
                "url": target.url + "/ingest", "method": "post", "sendSingle": True,
                "enableCache": True, "memoryCacheThreshold": 10, "bufferPageSize": 10,
                "retryInterval": 200, "timeout": 1000}}]})
        wait_until(lambda: len(_ids(target)) >= 20, 30, what="results before the outage")
        target.stop()
        back_at = time.monotonic() + OUTAGE_S
        # a third of the way into the outage: results wait in the cache, checkpointed
        wait_until(lambda: time.monotonic() >= back_at - 2 * OUTAGE_S / 3, OUTAGE_S,
                   every=0.1, what="the first third of the outage")
        server.proc.kill()  # a crash while the target is away
        server.proc.wait(10)
        server = ServerProcess(root, server.port).start()
        server.api.wait_status("fwd", "running", 20)
        wait_until(lambda: time.monotonic() >= back_at, OUTAGE_S, every=0.1,
                   what="the end of the outage")  # the outage itself
        assert len(set(_ids(target))) < ROWS
        target.start()
        wait_until(lambda: len(set(_ids(target))) == ROWS, 60, every=0.1,
                   what="every result delivered after the outage")
        metrics = server.api.status("fwd")
    finally:
        server.stop()
        target.close()
    ids = _ids(target)
    counts = Counter(ids)
    assert set(counts) == set(range(ROWS)), "a result was lost"
    assert metrics["sink_rest_0_0_exceptions_total"] >= 1  # the outage was seen and counted
    duplicates = len(ids) - ROWS
    print(f"http outage: {len(ids)} requests for {ROWS} results, {duplicates} duplicate(s)")
