"""Planning: rule SQL + catalog -> a physical plan of operators with compiled expressions."""
from kuiper.planner.build import plan_rule
from kuiper.planner.physical import PhysicalPlan, SourceSpec

__all__ = ["PhysicalPlan", "SourceSpec", "plan_rule"]
