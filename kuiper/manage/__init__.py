"""The service layer: streams, tables and rules managed for the REST API and the CLI."""
from kuiper.manage.engine import Engine
from kuiper.manage.rules import RuleManager, parse_rule
from kuiper.manage.streams import StreamManager

__all__ = ["Engine", "RuleManager", "StreamManager", "parse_rule"]
