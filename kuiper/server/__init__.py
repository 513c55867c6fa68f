"""The REST API (eKuiper's routes on aiohttp), served on the engine's event loop."""
from kuiper.server.app import create_app
from kuiper.server.main import run_server, serve

__all__ = ["create_app", "run_server", "serve"]
