"""Fixtures of the nats connector tests (helpers live in nats_support.py: a module name of
its own, so test folders with the same helper names do not shadow each other)."""
from nats_support import nats_url, private_nats, subject  # noqa: F401
