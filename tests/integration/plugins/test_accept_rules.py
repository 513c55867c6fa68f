"""Acceptance: rules using each example plugin, run in-process through `run_paths` (what
`kuiper run` does) on a root where the plugins were built from source and installed."""
from __future__ import annotations

import asyncio
import csv
from collections import Counter
from pathlib import Path

from plugin_env import STREAM_SQL, WORDS, file_action, read_lines, write_rules

from kuiper.cli.run import build_runners, extensions, run_paths
from kuiper.runtime.loop import run as run_loop


def _words(text: str) -> int:
    return len(text.split(" "))


def test_random_source_to_file_sink(root: Path) -> None:
    out = root / "out" / "random.lines"
    rules = write_rules(root / "r", [{"id": "rnd", "sql": "SELECT temperature, device FROM rnd",
                                      "actions": [file_action(out)]}],
                        streams='CREATE STREAM rnd () WITH (TYPE="random", CONF_KEY="bounded");\n')
    status = run_paths([str(rules)], str(root))["rnd"]
    assert status["status"] == "stopped", status
    rows = read_lines(out)
    assert len(rows) == 20 and status["source_rnd_0_records_in_total"] == 20
    assert all(r["device"] == "d1" and 0 <= r["temperature"] < 10 for r in rows)
    assert len({r["temperature"] for r in rows}) > 1


def test_file_source_to_csv_file_sink(root: Path) -> None:
    out = root / "out" / "words.csv"
    rules = write_rules(root / "r", [{
        "id": "csv", "sql": "SELECT n, k, text FROM words",
        "actions": [{"csvFile": {"path": str(out), "fields": ["n", "k", "text"]}}]}])
    status = run_paths([str(rules)], str(root))["csv"]
    assert status["status"] == "stopped" and status["sink_csvFile_0_0_records_out_total"] == 40
    with out.open() as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["n", "k", "text"]
    assert table[1:] == [[str(r["n"]), r["k"], r["text"]] for r in WORDS]


def test_echo_and_dict_lookup(root: Path) -> None:
    out = root / "out" / "echo.lines"
    rules = write_rules(root / "r", [{
        "id": "echo", "sql": "SELECT echo(k) AS e, echo(n) AS m, dictLookup(k) AS place FROM words",
        "actions": [file_action(out)]}])
    status = run_paths([str(rules)], str(root))["echo"]
    assert status["status"] == "stopped", status
    places = {"dev1": "kitchen", "dev2": "garage"}  # dev0 is not in etc/.../dict.txt
    expected = [{"e": r["k"], "m": r["n"], **({"place": places[r["k"]]} if r["k"] in places else {})}
                for r in WORDS]
    assert read_lines(out) == expected


def test_accumulate_word_count_survives_rule_restart(root: Path) -> None:
    totals = []
    for run in (1, 2):  # the same rule id twice in this process (the file sink truncates)
        out = root / "out" / f"wc{run}.lines"
        rule = {"id": "wc", "sql": "SELECT n, accumulateWordCount(text, ' ') AS total FROM words",
                "actions": [file_action(out)]}
        status = run_paths([str(write_rules(root / "r", [rule]))], str(root))["wc"]
        assert status["status"] == "stopped", status
        totals += [r["total"] for r in read_lines(out)]
    per_run = sum(_words(r["text"]) for r in WORDS)
    running = [sum(_words(r["text"]) for r in WORDS[: i + 1]) for i in range(40)]
    assert totals == running + [per_run + t for t in running]


def test_word_count_state_across_stop_and_a_new_runner(root: Path) -> None:
    """An unbounded source: stop() the runner mid-stream, start a new one for the same rule."""
    def rules_to(out: Path) -> Path:
        return write_rules(root / "r", [{
            "id": "live", "sql": "SELECT accumulateWordCount(label, ' ') AS total FROM rnd",
            "actions": [file_action(out)]}],
            streams='CREATE STREAM rnd () WITH (TYPE="random", CONF_KEY="fast");\n')

    async def one_run(out: Path) -> int:
        runner = build_runners([str(rules_to(out))], str(root), None)[0]
        await runner.start()
        state = runner.extension_state.instance("2_project", 0, 0)  # the call site's state
        start = state.get_counter("allwordcount")
        while state.get_counter("allwordcount") < start + 10:
            await asyncio.sleep(0.005)
        await runner.stop()  # the file sink flushes what it got when it closes
        assert runner.state == "stopped"
        return state.get_counter("allwordcount")

    out1, out2 = root / "out" / "fast1.lines", root / "out" / "fast2.lines"
    with extensions(str(root)):
        counted = run_loop(one_run(out1))
        counted_again = run_loop(one_run(out2))
    first = [r["total"] for r in read_lines(out1)]
    second = [r["total"] for r in read_lines(out2)]
    # "a b" is two words a row: the second runner counts on from the first one's state
    assert first == list(range(2, 2 * len(first) + 1, 2)) and first[-1] <= counted
    assert second[0] == counted + 2 and second == list(range(second[0], second[-1] + 1, 2))
    assert counted_again >= second[-1]


def test_count_plus_one_in_a_tumbling_window(root: Path) -> None:
    out = root / "out" / "agg.lines"
    rules = write_rules(root / "r", [{
        "id": "agg",
        "sql": "SELECT k, countPlusOne(n) AS c, window_start() AS ws FROM words "
               "GROUP BY k, TUMBLINGWINDOW(ss, 1)",
        "options": {"isEventTime": True},
        "actions": [file_action(out)]}])
    status = run_paths([str(rules)], str(root))["agg"]
    assert status["status"] == "stopped", status
    got = sorted((r["ws"], r["k"], r["c"]) for r in read_lines(out))
    counts = Counter((r["ts"] // 1000 * 1000, r["k"]) for r in WORDS)
    assert got == sorted((ws, k, c + 1) for (ws, k), c in counts.items())


def test_plugins_are_found_again_in_a_new_process_view(root: Path, tmp_path: Path) -> None:
    """The installed files are the registration: a new manager of the root lists them all."""
    from kuiper.plugins.manager import PluginManager

    manager = PluginManager(root, register=False)
    assert manager.list("functions") == ["accumulateWordCount", "countPlusOne", "dictLookup",
                                         "echo"]
    assert manager.list("sources") == ["random"] and manager.list("sinks") == ["csvFile"]
    assert (root / "etc" / "functions" / "dictLookup" / "dict.txt").is_file()
    assert STREAM_SQL.startswith("CREATE STREAM words")
