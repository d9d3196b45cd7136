"""The HTTP receiver: authenticates heartbeats and hands them to the store.

`serve(settings)` runs it as a service; `build_app` builds the aiohttp application
around an existing store and authenticator (for embedding and tests).
"""

from agentobs.receiver.app import build_app
from agentobs.receiver.server import serve

__all__ = ["build_app", "serve"]
