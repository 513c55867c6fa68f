"""Fixtures of the sql connector tests (helpers live in sql_support.py: a module name of
its own, so test folders with the same helper names do not shadow each other)."""
from sql_support import db, server_db  # noqa: F401
