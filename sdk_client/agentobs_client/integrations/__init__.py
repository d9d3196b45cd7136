"""Integrations that turn provider responses into ledger records.

- `agentobs_client.integrations.openai`: chat completions and the Responses
  API, including streams, as dicts or SDK objects.
- `agentobs_client.integrations.anthropic`: messages and message streams.
- `agentobs_client.integrations.langchain`: a LangChain callback handler and a
  decorator for LangGraph nodes (needs the `langchain` extra).

Every integration follows the same rules. A call whose provider returned no
usage is counted with `UsageLedger.record_unreported()`, never as a call with
zero tokens. Malformed usage never raises into the agent: the response is
skipped, counted with `UsageLedger.record_skipped()` and logged once per kind.
The OpenAI and Anthropic integrations read responses by key or attribute and
import neither SDK.
"""

from agentobs_client.integrations._usage import StreamRecorder

__all__ = ["StreamRecorder"]
