"""eKuiper's REST routes, one module per resource."""
from __future__ import annotations

from aiohttp import web

from kuiper.server.routes import batch, info, plugins, rules, ruleset, services, streams


def add_routes(app: web.Application) -> None:
    for module in (info, streams, rules, plugins, services, ruleset, batch):
        module.add_routes(app.router)
