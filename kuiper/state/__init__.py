"""State storage: the KV store (SQLite default, Redis) and per-instance extension state."""
