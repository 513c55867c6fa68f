"""The test folders have no `__init__.py`: pytest puts each test file's own folder on sys.path
(rootdir-relative "prepend" imports), which is how a folder's tests import its helpers
(`from nats_support import ...`). This conftest also puts the folders of the helpers that
several folders share there:

- tests/               example_plugins.py (unit and integration plugin tests)
- tests/integration/   services.py (the nats, redis and sql connector tests)
- tests/rules/         operator_cases.py (the window and join case tests)
"""
from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent

for _folder in (_HERE, _HERE / "integration", _HERE / "rules"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
