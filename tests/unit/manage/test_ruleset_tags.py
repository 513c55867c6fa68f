"""Rule tags and rulesets in the service layer (no server), on an in-memory KV store."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_streams_rules import SIM, managers

from kuiper.errors import ConfigError, NotFoundError
from kuiper.manage.ruleset import export_ruleset, import_ruleset, parse_ruleset
from kuiper.runtime.loop import run


def _rule(rule_id: str, **extra: object) -> dict[str, object]:
    return {"id": rule_id, "sql": "SELECT t FROM sim", "actions": [{"nop": {}}],
            "triggered": False, **extra}


def test_tags_modes_and_match(tmp_path: Path) -> None:
    streams, rules, store = managers(tmp_path)
    streams.create(SIM)

    async def main() -> None:
        await rules.create(_rule("a", tags=["x"]))
        await rules.create(_rule("b"))

    run(main())
    assert rules.set_tags("a", ["x", "y", "x"], "reset") == ["x", "y"]
    assert rules.set_tags("a", ["y", "z"], "add") == ["x", "y", "z"]
    assert rules.set_tags("b", ["z"], "add") == ["z"]
    assert rules.set_tags("a", ["x"], "remove") == ["y", "z"]
    assert rules.match_tags(["z"]) == ["a", "b"]
    assert rules.match_tags(["y", "z"]) == ["a"]
    assert json.loads(store.get("rule", "a") or b"{}")["tags"] == ["y", "z"]
    with pytest.raises(NotFoundError):
        rules.set_tags("nope", ["x"])


def test_ruleset_round_trip(tmp_path: Path) -> None:
    streams, rules, _store = managers(tmp_path)
    streams.create(SIM)
    run(rules.create(_rule("a", tags=["x"])))
    doc = export_ruleset(streams, rules)
    assert doc["streams"] == {"sim": SIM} and doc["tables"] == {}
    assert json.loads(doc["rules"]["a"])["tags"] == ["x"]

    streams2, rules2, _ = managers(tmp_path / "other")
    bad = {**doc, "rules": {**doc["rules"], "broken": '{"sql": "SELECT", "actions": []}'}}
    assert run(import_ruleset(streams2, rules2, json.dumps(bad))) == (1, 0, 1)
    assert rules2.ids() == ["a"]
    assert run(import_ruleset(streams2, rules2, doc)) == (0, 0, 0)
    with pytest.raises(ConfigError, match="must be an object"):
        parse_ruleset('{"streams": []}')
    with pytest.raises(ConfigError, match="invalid JSON"):
        parse_ruleset("{")
