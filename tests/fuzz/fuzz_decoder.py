"""Coverage-guided fuzzing of the JSON decoder with atheris (libFuzzer), many more inputs than
the pytest run: the compiled kernel must agree with its reference twin or report the
document as bad, and the json format must never raise (the oracle is json_check.py).

    python tests/fuzz/fuzz_decoder.py --runs 100000

Each input is split into 1-4 documents; the corpus starts from generated JSON documents
(nested, huge numbers, escapes, invalid UTF-8). A disagreement or crash stops the run with
the traceback and the input saved as `crash-*` under --artifacts. Without atheris installed,
hypothesis generates the inputs instead (tests/fuzz/test_fuzz_json.py's strategies).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

SEEDS = [
    b'{"i": 1, "f": 2.5, "b": true, "s": "dev-1", "r": [1, 2, 3]}',
    b'{"i": -9223372036854775808, "f": 1e308, "s": "\\u00e9\\ud83d\\ude00", "r": []}',
    b'{"i": 12.0, "f": "x", "b": null, "s": 5, "r": {"a": [[[[1]]]]}}',
    b'{"x": {"y": [1, {"z": "\\"q\\\\"}], "w": -0.0}, "i": 99999999999999999999}',
    b'{"s": "\xff\xfe", "r": ["\xc3"], "f": 4.9e-324, "i": 1E5}',
    b'[{"i": 1}, {"i": 2}]',
    b'{"r": ' + b"[" * 20 + b"]" * 20 + b"}",
    b'{"f": 123456789012345678901234567890.5, "b": false}',
]


def _documents(data: bytes) -> list[bytes]:
    """The input split at 0x1e bytes into at most 4 documents."""
    return data.split(b"\x1e", 3) or [b""]


def run_atheris(runs: int, artifacts: str) -> int:
    import atheris

    with atheris.instrument_imports():
        import json_check

    def one_input(data: bytes) -> None:
        json_check.check(_documents(data))

    corpus = tempfile.mkdtemp(prefix="kuiper-fuzz-corpus-")
    for i, seed in enumerate(SEEDS):
        Path(corpus, f"seed{i}").write_bytes(seed)
    Path(corpus, "multi").write_bytes(b"\x1e".join(SEEDS[:4]))
    # libFuzzer ends the process: "Done N runs in S second(s)" on success, else the
    # traceback of the failing input and its crash-* file
    atheris.Setup([sys.argv[0], f"-runs={runs}", f"-artifact_prefix={artifacts}/",
                   "-max_len=4096", "-print_final_stats=1", corpus], one_input)
    atheris.Fuzz()
    return 0


def run_hypothesis(runs: int) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from json_check import check
    from test_fuzz_json import documents

    count = 0

    @settings(max_examples=runs, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(documents(), min_size=1, max_size=4))
    def fuzz(payloads: list[bytes]) -> None:
        nonlocal count
        count += 1
        check(payloads)

    started = time.perf_counter()
    fuzz()
    print(f"decoder fuzz (hypothesis): {count} inputs in {time.perf_counter() - started:.0f} s, "
          "no crash, no disagreement")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000, help="inputs to try (default 100000)")
    ap.add_argument("--artifacts", default=tempfile.gettempdir(),
                    help="where a crashing input is saved")
    ap.add_argument("--hypothesis", action="store_true", help="use hypothesis even with atheris")
    args = ap.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)
    if not args.hypothesis:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed: using hypothesis", file=sys.stderr)
        else:
            return run_atheris(args.runs, args.artifacts)
    return run_hypothesis(args.runs)


if __name__ == "__main__":
    sys.exit(main())
