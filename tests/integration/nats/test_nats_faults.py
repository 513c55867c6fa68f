"""Faults: a private nats-server (JetStream, on disk) killed and started again mid-stream."""
from __future__ import annotations

import asyncio
import json

import nats
from nats_support import nats_rule_files, until
from services import simulator_rule_files

from kuiper.cli.run import build_runners


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
    total = 60
    url = private_nats.url
    paths = simulator_rule_files(tmp_path, total, {"nats": {
        "server": url, "subject": "out.y", "jetstream": True, "stream": "OUTY",
        "reconnectInterval": 100, "sendSingle": True, "enableCache": True,
        "retryInterval": 100}})

    async def main():
        nc = await nats.connect(url)
        await nc.jetstream().add_stream(name="OUTY", subjects=["out.y"])
        await nc.close()
        runner = build_runners(paths, str(tmp_path), None)[0]
        await runner.start()
        m = runner.metrics
        try:
            await until(lambda: m().get("sink_nats_0_0_records_out_total", 0) >= 5, 15)
            await asyncio.to_thread(private_nats.stop)
            await until(lambda: m().get("sink_nats_0_0_exceptions_total", 0) >= 2, 15,
                        "deliveries to fail while NATS is down")
            await asyncio.to_thread(private_nats.start)
            await until(lambda: runner.done, 60, "the rule to finish")
        finally:
            await runner.stop()
        nc = await nats.connect(url)
        js = nc.jetstream()
        info = await js.stream_info("OUTY")
        sub = await js.pull_subscribe("out.y", stream="OUTY")
        msgs = await sub.fetch(info.state.messages, timeout=5)
        await nc.close()
        return [json.loads(x.data)["n"] for x in msgs]

    values = asyncio.run(main())
    assert set(values) == set(range(total))
