"""Faults: a private nats-server (JetStream, on disk) killed and started again mid-stream."""
from __future__ import annotations

import asyncio
import json

import nats
from nats_support import nats_rule_files, until

from kuiper.cli.run import build_runners
from kuiper.io.pubsub import BUS


def test_source_and_cached_sink_survive_a_server_restart(tmp_path, private_nats):
    """nats (JetStream) -> rule -> nats (JetStream, enableCache) on one server that is killed
    mid-stream: the source resumes after the last acked message and every result produced
    while the server was down reaches the output stream (at least once)."""
    url = private_nats.url
    conf = {"server": url, "jetstream": True, "stream": "IN", "durable": "kt",
            "reconnectInterval": 100}
    paths = nats_rule_files(tmp_path, "in.x", "SELECT id, v FROM ns", [{"nats": {
        "server": url, "subject": "out.x", "jetstream": True, "stream": "OUT",
        "reconnectInterval": 100, "sendSingle": True, "enableCache": True,
        "retryInterval": 100}}], conf)

    async def connect():
        nc = await nats.connect(url, reconnect_time_wait=0.1, max_reconnect_attempts=-1)
        js = nc.jetstream()
        return nc, js

    async def main():
        nc, js = await connect()
        await js.add_stream(name="IN", subjects=["in.x"])
        await js.add_stream(name="OUT", subjects=["out.x"])
        runner = build_runners(paths, str(tmp_path), None)[0]
        await runner.start()
        sent = 0

        async def publish(n: int) -> None:
            nonlocal sent
            for _ in range(n):
                await js.publish("in.x", json.dumps({"id": f"m{sent}", "v": sent}).encode())
                sent += 1

        def out() -> int:
            return runner.metrics().get("sink_nats_0_0_records_out_total", 0)

        try:
            await publish(10)
            await until(lambda: out() >= 10, 15, "the first 10 results")
            await nc.close()
            private_nats.stop()
            private_nats.start()  # same port, same store: the streams and the consumer survive
            nc, js = await connect()
            await publish(10)
            # the sink's count includes resends (at least once), so wait on the stored values
            values: set[int] = set()
            deadline = asyncio.get_running_loop().time() + 30
            while not values >= set(range(20)):
                assert asyncio.get_running_loop().time() < deadline, f"stored so far: {values}"
                info = await js.stream_info("OUT")
                values = set()
                for seq in range(info.state.first_seq, info.state.last_seq + 1):
                    values.add(json.loads((await js.get_msg("OUT", seq)).data)["v"])
                await asyncio.sleep(0.05)
            assert out() >= 20
        finally:
            await runner.stop()
            await nc.close()
        return values

    values = asyncio.run(main())
    assert set(values) == set(range(20))  # nothing lost; duplicates are allowed (at least once)


def test_cached_sink_delivers_what_was_produced_while_nats_was_down(tmp_path, private_nats):
    """memory -> rule -> nats (JetStream, enableCache): rows produced while the server is down
    wait in the cache and all reach the stream once it is back. The test publishes the rows
    itself, so the outage happens mid-stream whatever the machine's load."""
    url = private_nats.url
    topic = "nats/cached"
    (tmp_path / "streams.sql").write_text(
        f'CREATE STREAM mem () WITH (TYPE="memory", DATASOURCE="{topic}", FORMAT="json");\n')
    (tmp_path / "rule.json").write_text(json.dumps({
        "id": "cached", "sql": "SELECT id, n FROM mem", "actions": [{"nats": {
            "server": url, "subject": "out.y", "jetstream": True, "stream": "OUTY",
            "reconnectInterval": 100, "sendSingle": True, "enableCache": True,
            "retryInterval": 100}}]}))
    paths = [str(tmp_path / "streams.sql"), str(tmp_path / "rule.json")]

    def publish(first: int, count: int) -> None:
        BUS.publish(topic, [{"id": f"k{i:03d}", "n": i} for i in range(first, first + count)])

    async def stored() -> set[int]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            info = await js.stream_info("OUTY")
            return {json.loads((await js.get_msg("OUTY", seq)).data)["n"]
                    for seq in range(info.state.first_seq, info.state.last_seq + 1)}
        finally:
            await nc.close()

    async def main() -> set[int]:
        nc = await nats.connect(url)
        await nc.jetstream().add_stream(name="OUTY", subjects=["out.y"])
        await nc.close()
        runner = build_runners(paths, str(tmp_path), None)[0]
        await runner.start()
        m = runner.metrics
        try:
            await until(lambda: BUS.publish(topic, []) > 0, 15, "the memory source to listen")
            publish(0, 5)
            await until(lambda: m().get("sink_nats_0_0_records_out_total", 0) >= 5, 15)
            await asyncio.to_thread(private_nats.stop)
            publish(5, 30)  # produced while the server is down
            await until(lambda: m().get("sink_nats_0_0_exceptions_total", 0) >= 2, 15,
                        "deliveries to fail while NATS is down")
            await asyncio.to_thread(private_nats.start)
            publish(35, 25)
            deadline = asyncio.get_running_loop().time() + 60
            values: set[int] = set()
            while not values >= set(range(60)):  # the sink's counts include resends
                assert asyncio.get_running_loop().time() < deadline, f"stored so far: {values}"
                try:
                    values = await stored()
                except (OSError, nats.errors.Error):
                    pass  # the server is still starting
                await asyncio.sleep(0.1)
            return values
        finally:
            await runner.stop()

    assert asyncio.run(main()) == set(range(60))  # nothing lost; duplicates allowed
