"""MQTT persistent session settings and the source's acknowledgements at checkpoints (the
broker side is in tests/integration/checkpoint/test_mqtt_server_kill.py)."""
from __future__ import annotations

import pytest

from kuiper.errors import ConfigError
from kuiper.io.mqtt_client import MqttSettings
from kuiper.io.sources.mqtt import MqttSource


def test_clean_session_false_needs_a_fixed_client_id() -> None:
    with pytest.raises(ConfigError, match="needs a fixed clientid"):
        MqttSettings.parse({"cleanSession": False}, ".", "mqtt source")
    with pytest.raises(ConfigError, match="cleanSession must be true or false"):
        MqttSettings.parse({"cleanSession": "no"}, ".", "mqtt source")
    settings = MqttSettings.parse({"cleanSession": False, "clientid": "c1"}, ".", "mqtt source")
    assert settings.clean_session is False and settings.client_id == "c1"
    assert MqttSettings.parse({}, ".", "mqtt source").clean_session is True


class _Conn:
    def __init__(self) -> None:
        self.acked: list[tuple[int, int]] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append((mid, qos))


def test_acknowledgements_wait_for_the_checkpoint_covering_them() -> None:
    src = MqttSource()
    src.configure("t/in", {"cleanSession": False, "clientid": "c1", "qos": 1})
    src.checkpointed()
    assert src.defer_acks
    clean = MqttSource()
    clean.configure("t/in", {"qos": 1})
    clean.checkpointed()
    assert not clean.defer_acks  # a clean session: nothing to gain, acknowledged at once
    conn = _Conn()
    src.conn = conn  # type: ignore[assignment]
    for mid in (11, 12, 13):  # what `_on_message` records for each QoS 1 message
        src._seq += 1  # noqa: SLF001
        src._unacked.append((src._seq, mid, 1))  # noqa: SLF001
    assert src.get_offset() == 3
    src.commit(2)
    assert conn.acked == [(11, 1), (12, 1)]
    src.commit(3)
    assert conn.acked[-1] == (13, 1) and not src._unacked  # noqa: SLF001
