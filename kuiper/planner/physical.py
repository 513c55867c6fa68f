"""The physical plan handed to the runtime: source specs and the operator chain."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kuiper.catalog.defs import RuleDef, StreamDef
from kuiper.operators.base import Operator


@dataclass(slots=True)
class SourceSpec:
    """One input of a rule: the stream and the fields the rule reads (None = all of them)."""

    stream: StreamDef
    fields: list[str] | None = None
    alias: str = ""

    @property
    def name(self) -> str:
        return self.stream.name


@dataclass(slots=True)
class PhysicalPlan:
    """What the runtime builds nodes from: sources -> operators (a chain) -> the rule's sinks."""

    rule: RuleDef
    sources: list[SourceSpec]
    operators: list[Operator]
    is_windowed: bool = False
    explain: list[dict[str, Any]] = field(default_factory=list)
