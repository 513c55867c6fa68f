"""Rows/s of an external gRPC function (concurrency 1 and 64) against a bare grpcio client loop.

Starts a local unary gRPC service in a subprocess (so it does not share our GIL), then measures
in one run: a bare grpcio client (sync stub loop; aio with 1 and 64 calls in flight) and
kuiper's `FunctionDef.exec_batch` for `getFeature(self)` with `concurrency` 1 and 64. The added
per-row cost is kuiper's time per row minus the bare aio client's at the same concurrency.

    python benchmarks/bench_external.py [--rows 4000] [--batch 256]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROTO = """\
syntax = "proto3";
package bench;
service AI { rpc get_feature(FeatureRequest) returns (FeatureReply) {} }
message FeatureRequest { repeated double payload = 1; string device = 2; int64 seq = 3; }
message FeatureReply { repeated double vector = 1; string label = 2; double score = 3; int64 seq = 4; }
"""


def serve(proto: str, port_file: str) -> None:
    """The service: mean/min/max of the payload, a label, echoing seq (runs in the subprocess)."""
    from concurrent import futures

    import grpc

    from kuiper.external.schema import compile_proto

    m = compile_proto(Path(proto)).methods["get_feature"]

    def get_feature(req, context):  # noqa: ANN001
        p = list(req.payload) or [0.0]
        mean = sum(p) / len(p)
        return m.output_cls(vector=[mean, min(p), max(p)], label="high" if mean > 10 else "low",
                            score=mean, seq=req.seq)

    handler = grpc.method_handlers_generic_handler("bench.AI", {
        "get_feature": grpc.unary_unary_rpc_method_handler(
            get_feature, request_deserializer=m.input_cls.FromString,
            response_serializer=m.output_cls.SerializeToString)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    Path(port_file).write_text(str(port))
    server.wait_for_termination()


def rows(n: int) -> list[dict]:
    return [{"payload": [float(i % 50), 1.0, 2.0], "device": f"d{i % 10}", "seq": i}
            for i in range(n)]


def bare_sync(target: str, m, data: list[dict]) -> float:  # noqa: ANN001
    import grpc

    with grpc.insecure_channel(target) as ch:
        call = ch.unary_unary(m.path, request_serializer=m.input_cls.SerializeToString,
                              response_deserializer=m.output_cls.FromString)
        call(m.input_cls(**data[0]))
        t0 = time.perf_counter()
        for r in data:
            call(m.input_cls(**r), timeout=5)
        return time.perf_counter() - t0


def bare_aio(target: str, m, data: list[dict], concurrency: int) -> float:  # noqa: ANN001
    import grpc

    async def main() -> float:
        async with grpc.aio.insecure_channel(target) as ch:
            call = ch.unary_unary(m.path, request_serializer=m.input_cls.SerializeToString,
                                  response_deserializer=m.output_cls.FromString)
            await call(m.input_cls(**data[0]))
            slots = asyncio.Semaphore(concurrency)

            async def one(r: dict) -> None:
                async with slots:
                    await call(m.input_cls(**r), timeout=5)

            t0 = time.perf_counter()
            await asyncio.gather(*(one(r) for r in data))
            return time.perf_counter() - t0

    return asyncio.run(main())


def kuiper_run(root: Path, port: int, data: list[dict], concurrency: int, batch: int) -> float:
    from kuiper.api.batch import Column
    from kuiper.external.manager import ServiceManager
    from kuiper.functions.registry import FunctionRegistry

    services = root / "etc" / "services"
    (services / "bench.json").write_text(json.dumps({"interfaces": {"ai": {
        "address": f"tcp://127.0.0.1:{port}", "protocol": "grpc", "schemaType": "protobuf",
        "schemaFile": "bench.proto", "options": {"concurrency": concurrency},
        "functions": [{"name": "getFeature", "serviceName": "get_feature"}]}}}))
    mgr = ServiceManager(root, FunctionRegistry())
    assert mgr.load_all() == ["bench"], mgr.load_errors
    fdef = mgr.resolve("getFeature")
    cols = [Column.from_values(data[i:i + batch], "struct") for i in range(0, len(data), batch)]
    fdef.exec_batch([cols[0]], len(cols[0]), None)  # connect
    t0 = time.perf_counter()
    for col in cols:
        out = fdef.exec_batch([col], len(col), None)
    elapsed = time.perf_counter() - t0
    assert out.to_pylist()[-1]["seq"] == data[-1]["seq"]
    mgr.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=256, help="rows per exec_batch call")
    ap.add_argument("--serve", nargs=2, metavar=("PROTO", "PORT_FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    from kuiper.external.schema import compile_proto

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        schemas = root / "etc" / "services" / "schemas"
        schemas.mkdir(parents=True)
        proto = schemas / "bench.proto"
        proto.write_text(PROTO)
        port_file = root / "port"
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(proto), str(port_file)])
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                time.sleep(0.05)
            port = int(port_file.read_text())
            target = f"127.0.0.1:{port}"
            m = compile_proto(proto).methods["get_feature"]
            data = rows(args.rows)
            n = len(data)
            results = {
                "bare grpcio sync loop (c=1)": bare_sync(target, m, data),
                "bare grpcio aio (c=1)": bare_aio(target, m, data, 1),
                "bare grpcio aio (c=64)": bare_aio(target, m, data, 64),
                "kuiper getFeature (concurrency 1)": kuiper_run(root, port, data, 1, args.batch),
                "kuiper getFeature (concurrency 64)": kuiper_run(root, port, data, 64, args.batch),
            }
        finally:
            server.terminate()
            server.wait(5)
    print(f"{n} rows, exec_batch of {args.batch} rows, local unary gRPC service (subprocess)")
    for name, secs in results.items():
        print(f"  {name:<38} {n / secs:>10,.0f} rows/s  {secs / n * 1e6:>8.1f} us/row")
    for c in (1, 64):
        added = (results[f"kuiper getFeature (concurrency {c})"]
                 - results[f"bare grpcio aio (c={c})"]) / n * 1e6
        print(f"  added per-row overhead at concurrency {c:<2}: {added:+.1f} us "
              f"(kuiper minus bare aio client)")


if __name__ == "__main__":
    main()
