"""MQTT fixtures: the shared Mosquitto on 127.0.0.1:1883 when it answers, else a private one."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mqtt_helpers import MOSQUITTO, Broker, port_open

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def broker_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """1883 if the machine's Mosquitto answers, else a private mosquitto on a free port."""
    if port_open(1883):
        yield 1883
        return
    if not os.path.exists(MOSQUITTO):
        pytest.skip("no MQTT broker on 127.0.0.1:1883 and no mosquitto binary to start one")
    broker = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker.port
    broker.stop()


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Start private brokers with a stated configuration (for tests that count losses,
    stop the broker, or need TLS)."""
    if not os.path.exists(MOSQUITTO):
        pytest.skip("the mosquitto binary is needed to run a private broker")
    started: list[Broker] = []

    def make(conf_lines: list[str] | None = None, tls: dict[str, str] | None = None) -> Broker:
        b = Broker(tmp_path, conf_lines, tls=tls).start()
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()
