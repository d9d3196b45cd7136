"""Record the LLM token usage of an agent and report it to agentobs.

Call `UsageLedger.record()` once per model call (or let an integration from
`agentobs_client.integrations` do it), and let a `Reporter` send the ledger's
cumulative counters to the agentobs receiver in the background::

    import agentobs_client

    ledger = agentobs_client.UsageLedger()
    reporter = agentobs_client.Reporter(ledger)  # reads AGENTOBS_* variables

    ledger.record("gpt-4o", input_tokens=1200, output_tokens=80, cache_read_tokens=1024)
    ledger.record_unreported("gpt-4o")  # the provider returned no usage

The package depends on the standard library only. `agentobs_client.testing`
helps agent developers assert on a ledger in their own tests.
"""

from agentobs_client._config import ConfigurationError, ReporterConfig
from agentobs_client._ledger import MAX_COUNT, TokenCounts, UsageLedger, UsageSnapshot
from agentobs_client._reporter import Reporter

__all__ = [
    "MAX_COUNT",
    "ConfigurationError",
    "Reporter",
    "ReporterConfig",
    "TokenCounts",
    "UsageLedger",
    "UsageSnapshot",
]
