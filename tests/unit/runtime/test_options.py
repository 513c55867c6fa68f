"""Rule options: eKuiper defaults, durations, policies, bad types."""
from __future__ import annotations

import logging

import pytest

from kuiper.errors import ConfigError
from kuiper.runtime.options import BLOCK, DROP_OLDEST, parse_duration_ms, parse_rule_options


def test_defaults_follow_ekuiper():
    o = parse_rule_options({})
    assert (o.is_event_time, o.late_tolerance_ms, o.concurrency, o.buffer_length) == (False, 1000, 1, 1024)
    assert (o.send_meta_to_sink, o.send_error, o.send_nil_field, o.qos) == (False, False, False, 0)
    assert o.checkpoint_interval_ms == 300_000
    assert o.restart_strategy.attempts == 0
    assert (o.max_batch_size, o.buffer_full_policy) == (8192, BLOCK)


@pytest.mark.parametrize(("value", "ms"), [(500, 500), ("1s", 1000), ("250ms", 250), ("1m30s", 90_000),
                                           ("2h", 7_200_000), ("100", 100)])
def test_durations(value, ms):
    assert parse_duration_ms(value, "lateTolerance") == ms


def test_bad_duration_names_the_option():
    with pytest.raises(ConfigError, match="lateTolerance"):
        parse_rule_options({"lateTolerance": "soon"})


@pytest.mark.parametrize(("raw", "name"), [({"bufferLength": "big"}, "bufferLength"),
                                           ({"sendError": "yes"}, "sendError"),
                                           ({"qos": 3}, "qos"),
                                           ({"bufferFullPolicy": "drop"}, "bufferFullPolicy"),
                                           ({"maxBatchSize": 0}, "maxBatchSize")])
def test_bad_types_name_the_option(raw, name):
    with pytest.raises(ConfigError, match=name):
        parse_rule_options(raw)


def test_buffer_full_policy():
    assert parse_rule_options({"bufferFullPolicy": "dropOldest"}).buffer_full_policy == DROP_OLDEST
    assert parse_rule_options({"disableBufferFullDiscard": False}).drops_oldest
    assert not parse_rule_options({"disableBufferFullDiscard": True}).drops_oldest


def test_unknown_options_warn(caplog):
    with caplog.at_level(logging.WARNING):
        o = parse_rule_options({"fancy": 1, "debug": True, "restartStrategy": {"attempts": 3, "delay": "2s"}})
    assert o.unknown == ("fancy",)
    assert "fancy" in caplog.text and "debug" not in caplog.text
    assert o.restart_strategy.attempts == 3 and o.restart_strategy.delay_ms == 2000
