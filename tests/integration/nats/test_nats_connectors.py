"""The nats source and sink (core NATS and JetStream), through rules, and their faults."""
from __future__ import annotations

import asyncio
import json
from functools import partial

import nats
import pytest
from nats_support import nats_rule_files, until
from services import rule_files

from kuiper.cli.run import build_runners, run_paths
from kuiper.errors import ConfigError

ROWS = [{"id": f"d{i}", "v": i} for i in range(20)]


def test_sink_publishes_each_row(tmp_path, nats_url, subject):
    async def main():
        nc = await nats.connect(nats_url)
        got = []
        await nc.subscribe(subject + ".>", cb=partial(_append, got))
        await nc.flush()
        paths = rule_files(tmp_path, ROWS, "SELECT id, v FROM src", [{"nats": {
            "server": nats_url, "subject": subject + ".{{.id}}", "sendSingle": True}}])
        status = await asyncio.to_thread(run_paths, paths, str(tmp_path))
        await until(lambda: len(got) >= 20, what="20 messages")
        await nc.close()
        return status["r1"], got

    status, got = asyncio.run(main())
    assert status["sink_nats_0_0_records_out_total"] == 20
    assert [(m.subject, json.loads(m.data)) for m in got] == \
        [(f"{subject}.d{i}", {"id": f"d{i}", "v": i}) for i in range(20)]


async def _append(box, msg):
    box.append(msg)


def test_jetstream_sink_is_acknowledged_and_stored(tmp_path, nats_url, subject):
    stream = subject.replace(".", "_").upper()

    async def main():
        paths = rule_files(tmp_path, ROWS, "SELECT * FROM src", [{"nats": {
            "server": nats_url, "subject": subject, "jetstream": True, "stream": stream,
            "sendSingle": True}}])
        status = await asyncio.to_thread(run_paths, paths, str(tmp_path))
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        try:
            info = await js.stream_info(stream)
            sub = await js.pull_subscribe(subject, stream=stream)
            msgs = await sub.fetch(20, timeout=5)
        finally:
            await js.delete_stream(stream)
            await nc.close()
        return status["r1"], info, msgs

    status, info, msgs = asyncio.run(main())
    assert status["sink_nats_0_0_records_out_total"] == 20
    assert info.state.messages == 20
    assert [json.loads(m.data)["v"] for m in msgs] == list(range(20))


def test_source_to_sink_rule(tmp_path, nats_url, subject):
    async def main():
        nc = await nats.connect(nats_url)
        got = []
        await nc.subscribe(subject + ".out", cb=partial(_append, got))
        paths = nats_rule_files(tmp_path, subject + ".in.*", "SELECT id, v * 10 AS v FROM ns "
                                "WHERE ns.v >= 5", [{"nats": {"server": nats_url,
                                                          "subject": subject + ".out",
                                                          "sendSingle": True}}],
                                {"server": nats_url})
        runner = build_runners(paths, str(tmp_path), None)[0]
        await runner.start()
        try:
            await until(lambda: runner.metrics().get("sink_nats_0_0_records_in_total") is not None)
            await asyncio.sleep(0.2)  # the subscription is made by the source's open()
            for row in ROWS:
                await nc.publish(f"{subject}.in.{row['id']}", json.dumps(row).encode())
            await until(lambda: len(got) >= 15, what="15 results")
        finally:
            await runner.stop()
            await nc.close()
        return got

    got = asyncio.run(main())
    assert [json.loads(m.data) for m in got] == [{"id": f"d{i}", "v": 10 * i} for i in range(5, 20)]


def test_jetstream_durable_source_resumes_after_the_last_ack(tmp_path, nats_url, subject):
    stream = subject.replace(".", "_").upper()
    conf = {"server": nats_url, "jetstream": True, "stream": stream, "durable": "kt"}

    async def run_once(expect: int) -> list[dict]:
        out = tmp_path / f"out{expect}.jsonl"
        paths = nats_rule_files(tmp_path, subject, "SELECT * FROM ns",
                                [{"file": {"path": str(out)}}], conf)
        runner = build_runners(paths, str(tmp_path), None)[0]
        await runner.start()
        try:
            await until(lambda: runner.metrics().get("sink_file_0_0_records_out_total", 0)
                        >= expect, what=f"{expect} rows")
        finally:
            await runner.stop()
        return [json.loads(line)[0] for line in out.read_text().splitlines()]

    async def main():
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[subject])
        try:
            for row in ROWS[:10]:
                await js.publish(subject, json.dumps(row).encode())
            first = await run_once(10)

            async def unbound() -> bool:
                return not (await js.consumer_info(stream, "kt")).push_bound

            for _ in range(250):  # the server sees the first run's subscription go
                if await unbound():
                    break
                await asyncio.sleep(0.02)
            for row in ROWS[10:15]:
                await js.publish(subject, json.dumps(row).encode())
            second = await run_once(5)
        finally:
            await js.delete_stream(stream)
            await nc.close()
        return first, second

    first, second = asyncio.run(main())
    assert [r["v"] for r in first] == list(range(10))
    assert [r["v"] for r in second] == list(range(10, 15))


def test_configuration_errors():
    from kuiper.io.sinks.nats import NatsSink
    from kuiper.io.sources.nats import NatsSource

    with pytest.raises(ConfigError, match="subject"):
        NatsSink().configure({})
    with pytest.raises(ConfigError, match="subject"):
        NatsSource().configure("", {})
    with pytest.raises(ConfigError, match="deliverPolicy"):
        NatsSource().configure("a", {"deliverPolicy": "sometimes"})
