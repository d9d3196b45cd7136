"""Run `agentobs.receiver.serve` in its own process, for tests that send it signals.

Usage: python serve_receiver.py '<ReceiverSettings fields as JSON>'
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from agentobs.receiver import serve
from agentobs.settings import ReceiverSettings


def main() -> None:
    fields = json.loads(sys.argv[1])
    for name in ("static_token_file", "kubeconfig"):
        if fields.get(name):
            fields[name] = Path(fields[name])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    asyncio.run(serve(ReceiverSettings(**fields)))


if __name__ == "__main__":
    main()
