"""Expression classes the eKuiper dialect adds to sqlglot's tree (`->` and statement carriers)."""
from __future__ import annotations

from typing import Any

from sqlglot import exp


class Arrow(exp.Expression):
    """`this->key`: read field `key` (an `exp.Identifier`) of the object `this`."""

    arg_types = {"this": True, "expression": True}

    @property
    def key_name(self) -> str:
        """The accessed field's name as written."""
        return self.expression.name


class StatementNode(exp.Expression):
    """Carries a parsed non-SELECT statement (a `kuiper.sql.statements` object) out of the
    sqlglot parser; never part of a SELECT tree."""

    arg_types = {"this": True}

    @property
    def statement(self) -> Any:
        return self.args["this"]
