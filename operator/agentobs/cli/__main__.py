"""Allows `python -m agentobs.cli`, the same as the `agentobs` command."""

import sys

from agentobs.cli import main

sys.exit(main())
