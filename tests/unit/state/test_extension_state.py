"""Extension state: per-instance values and counters, snapshot/restore, save/load via the KV store."""
from __future__ import annotations

import threading
from pathlib import Path

from kuiper.state.extension_state import ExtensionState, RuleExtensionState, scope_key
from kuiper.state.kv import SqliteKV


def test_instance_state_api() -> None:
    st = ExtensionState()
    assert st.get_state("k") is None and st.get_counter("c") == 0
    st.put_state("k", {"a": [1, 2]})
    st.incr_counter("c")
    st.incr_counter("c", 4)
    assert st.get_state("k") == {"a": [1, 2]} and st.get_counter("c") == 5
    snap = st.snapshot()
    st.get_state("k")["a"].append(3)  # a live value changes; the snapshot does not
    assert snap["k"] == {"a": [1, 2]}
    st.delete_state("k")
    st.delete_state("missing")
    assert st.get_state("k") is None
    st.restore(snap)
    assert st.get_state("k") == {"a": [1, 2]} and st.get_counter("c") == 5


def test_counter_is_thread_safe() -> None:
    st = ExtensionState()

    def work() -> None:
        for _ in range(2000):
            st.incr_counter("n")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert st.get_counter("n") == 8000


def test_scopes_are_apart() -> None:
    rule = RuleExtensionState("r1")
    a = rule.instance("2_project", 0, func_id=0)
    b = rule.instance("2_project", 0, func_id=1)
    assert a is rule.instance("2_project", 0, func_id=0) and a is not b
    a.incr_counter("n", 3)
    assert b.get_counter("n") == 0
    assert rule.scopes() == ["2_project/0/0", "2_project/0/1"]
    assert scope_key("src", 1) == "src/1"


def test_snapshot_restore_keeps_handed_out_instances() -> None:
    rule = RuleExtensionState("r1")
    st = rule.instance("op", 0)
    st.incr_counter("words", 7)
    blob = rule.snapshot()
    st.incr_counter("words", 100)
    rule.restore(blob)
    assert st.get_counter("words") == 7
    rule.restore(None)
    assert st.get_counter("words") == 0


def test_save_and_load_through_sqlite(tmp_path: Path) -> None:
    store = SqliteKV(tmp_path / "kv.db")
    rule = RuleExtensionState("wordcount")
    rule.instance("2_project", 0, 0).incr_counter("allwordcount", 42)
    rule.instance("0_source", 0).put_state("offset", ("file.txt", 1234))
    rule.save(store)
    store.close()

    store = SqliteKV(tmp_path / "kv.db")  # a process restart
    fresh = RuleExtensionState("wordcount")
    assert fresh.load(store)
    assert fresh.instance("2_project", 0, 0).get_counter("allwordcount") == 42
    assert fresh.instance("0_source", 0).get_state("offset") == ("file.txt", 1234)
    assert not RuleExtensionState("other").load(store)
    fresh.discard(store)
    assert not RuleExtensionState("wordcount").load(store)
