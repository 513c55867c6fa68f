"""The checkpoint tests drive real processes and services: they reuse the helpers of the
server (`server_support`), MQTT (`mqtt_helpers`) and HTTP (`http_helpers`) test
folders."""
from __future__ import annotations

import sys
from pathlib import Path

_INTEGRATION = Path(__file__).resolve().parents[1]

for _folder in ("server", "mqtt", "http"):
    _path = str(_INTEGRATION / _folder)
    if _path not in sys.path:
        sys.path.append(_path)
